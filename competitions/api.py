from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from agents.models import Agent
from core.schemas import IdPath, errors
from marketplace.models import cents

from . import services
from .models import Competition, Entry
from .schemas import CompetitionFilter, CompetitionIn, CompetitionOut, EntryIn, EntryOut, TaskOut

router = Router(tags=["competitions"])

ERRORS = errors(402, 403, 404, 409)
CompetitionId = IdPath()


def competition_payload(competition: Competition) -> dict:
    """The public view of a competition (docs/API.md): never its tasks. Reads the counts
    and placed entries of Competition.objects.for_api() when annotated, else queries them."""
    results = []
    if competition.status == Competition.Status.FINISHED:
        placed = (
            competition.placed
            if hasattr(competition, "placed")
            else competition.entries.filter(rank__isnull=False)
            .select_related("owner")
            .order_by("rank")
        )
        results = [
            {
                "rank": e.rank,
                "agent_id": e.agent_id,
                "agent_name": e.agent_name,
                "owner": e.owner.username,
                "score": e.score,
                "duration_ms": e.duration_ms,
                "payout": f"{cents(e.payout):.2f}",
            }
            for e in placed
        ]
    return {
        "id": competition.pk,
        "title": competition.title,
        "description": competition.description,
        "organizer": competition.organizer.username,
        "status": competition.status,
        "entry_fee": f"{competition.entry_fee:.2f}",
        "prize_pool": f"{competition.pool:.2f}",
        "closes_at": competition.closes_at,
        "tasks_count": (
            competition.tasks_total
            if hasattr(competition, "tasks_total")
            else competition.tasks.count()
        ),
        "entries_count": (
            competition.entries_total
            if hasattr(competition, "entries_total")
            else competition.entries.count()
        ),
        "results": results,
    }


class _Payloads:
    """A list's competitions as API payloads, built for the page the paginator slices only
    (a constant number of queries per page, whatever the number of competitions)."""

    def __init__(self, competitions) -> None:
        self.competitions = competitions

    def __len__(self) -> int:
        return self.competitions.count()

    def __getitem__(self, index: slice) -> list[dict]:
        return [competition_payload(c) for c in self.competitions[index]]


@router.get(
    "/competitions", response={200: list[CompetitionOut], **errors()}, summary="Competitions"
)
@paginate
def competition_list(request: HttpRequest, filters: Query[CompetitionFilter]):
    competitions = Competition.objects.for_api()
    if filters.status:
        competitions = competitions.filter(status=filters.status)
    return _Payloads(competitions)


@router.post("/competitions", response={201: CompetitionOut, **ERRORS}, summary="Organize one")
def competition_create(request: HttpRequest, payload: CompetitionIn):
    competition = services.competition_create(
        organizer=request.auth,
        title=payload.title,
        description=payload.description,
        entry_fee=payload.entry_fee,
        prize=payload.prize,
        closes_at=payload.closes_at,
        tasks=[services.TaskSpec(t.prompt, t.expected, t.grader) for t in payload.tasks],
    )
    return Status(201, competition_payload(competition))


@router.get(
    "/competitions/{competition_id}", response={200: CompetitionOut, **ERRORS}, summary="One"
)
def competition_detail(request: HttpRequest, competition_id: int = CompetitionId):
    return competition_payload(Competition.objects.for_api().get_for(request.auth, competition_id))


@router.get(
    "/competitions/{competition_id}/tasks",
    response={200: list[TaskOut], **ERRORS},
    summary="Its hidden tasks (organizer only)",
)
def competition_tasks(request: HttpRequest, competition_id: int = CompetitionId):
    competition = Competition.objects.get_for(request.auth, competition_id, need="organize")
    return list(competition.tasks.all())


@router.post(
    "/competitions/{competition_id}/entries",
    response={201: EntryOut, **ERRORS},
    summary="Enter your agent",
)
def entry_create(request: HttpRequest, payload: EntryIn, competition_id: int = CompetitionId):
    competition = Competition.objects.get_for(request.auth, competition_id)
    agent = Agent.objects.get_for(request.auth, payload.agent_id, need="own")
    entry: Entry = services.competition_enter(competition=competition, agent=agent, by=request.auth)
    return Status(201, {"id": entry.pk, "competition_id": competition.pk, "agent_id": agent.pk})


@router.post(
    "/competitions/{competition_id}/cancel",
    response={200: CompetitionOut, **ERRORS},
    summary="Cancel (organizer, while open)",
)
def competition_cancel(request: HttpRequest, competition_id: int = CompetitionId):
    competition = Competition.objects.get_for(request.auth, competition_id, need="organize")
    competition = services.competition_cancel(competition=competition, by=request.auth)
    return competition_payload(competition)
