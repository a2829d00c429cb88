from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from agents.models import Agent
from agents.schemas import AgentStatsOut, stats_payload
from core.schemas import IdPath, errors

from . import services
from .models import AgentStats, Rating
from .schemas import LeaderboardEntryOut, LeaderboardFilter, RatingIn, RatingOut

router = Router(tags=["stats, ratings, leaderboard"])

ERRORS = errors(403, 404, 409)
AgentId = IdPath()


def _agent(request: HttpRequest, agent_id: int) -> Agent:
    """404 to strangers; visible agents and agents the caller ran before are found."""
    return Agent.objects.select_related("owner", "stats").get_for(
        request.auth, agent_id, need="review"
    )


@router.get(
    "/agents/{agent_id}/stats",
    response={200: AgentStatsOut, **ERRORS},
    summary="An agent's stats, level and achievements",
)
def agent_stats(request: HttpRequest, agent_id: int = AgentId):
    return stats_payload(_agent(request, agent_id))


@router.get(
    "/agents/{agent_id}/ratings",
    response={200: list[RatingOut], **ERRORS},
    summary="An agent's ratings, newest first",
)
@paginate
def rating_list(request: HttpRequest, agent_id: int = AgentId):
    agent = _agent(request, agent_id)
    return Rating.objects.shown().for_agent(agent).select_related("user")


@router.post(
    "/agents/{agent_id}/ratings",
    response={200: RatingOut, 201: RatingOut, **ERRORS},
    summary="Rate an agent you ran (again: updates your rating)",
)
def rating_save(request: HttpRequest, payload: RatingIn, agent_id: int = AgentId):
    outcome = services.rating_save(
        agent=_agent(request, agent_id),
        user=request.auth,
        stars=payload.stars,
        comment=payload.comment,
    )
    return Status(201 if outcome.created else 200, outcome.rating)


@router.get(
    "/leaderboard",
    response={200: list[LeaderboardEntryOut], **errors()},
    summary="Agents you can see, ranked by experience (sort=rating|earnings too)",
)
@paginate
def leaderboard(request: HttpRequest, filters: Query[LeaderboardFilter]):
    return AgentStats.objects.leaderboard(
        sort=filters.sort, agents=Agent.objects.visible_to(request.auth)
    )
