from django.db import transaction
from django.db.models import F

from .models import AgentStats


def agent_stats_create(*, agent) -> AgentStats:
    stats, _created = AgentStats.objects.get_or_create(agent=agent)
    return stats


@transaction.atomic
def record_run(*, run) -> None:
    """Count a finished run in its agent's stats. Called by the agents engine in the same
    transaction that finalises the run, so a run is counted exactly once.

    Cancelled runs are the user's choice, not the agent's record: they are not counted.
    """
    from agents.models import Run

    if run.status == Run.Status.CANCELLED:
        return
    succeeded = run.status == Run.Status.SUCCEEDED
    AgentStats.objects.get_or_create(agent_id=run.agent_id)
    # F expressions: concurrent runs finishing at once never lose an increment.
    AgentStats.objects.filter(agent_id=run.agent_id).update(
        total_requests=F("total_requests") + 1,
        successful_requests=F("successful_requests") + (1 if succeeded else 0),
        failed_requests=F("failed_requests") + (0 if succeeded else 1),
        tasks_completed=F("tasks_completed") + (1 if succeeded else 0),
        total_response_ms=F("total_response_ms") + (run.duration_ms or 0),
    )


@transaction.atomic
def record_sale(*, agent, amount, kind: str) -> None:
    """Count the seller's income from a sale or rental (kind: "sale" | "rental") in the
    agent's stats, in the marketplace's transaction."""
    AgentStats.objects.get_or_create(agent=agent)
    AgentStats.objects.filter(agent=agent).update(earnings=F("earnings") + amount)


def run_notices(*, run) -> list[str]:
    """Short notices for what a finished run unlocked (level-ups, achievements), shown in
    the chat where it happened."""
    return []


def agent_panel_context(*, agent, user) -> dict:
    """What the agent page's stats panel needs (stats, ratings, achievements)."""
    return {"stats": getattr(agent, "stats", None)}


def stats_payload(*, agent) -> dict:
    """API.md's AgentStats for one agent (zeros before its first run)."""
    stats = getattr(agent, "stats", None) or AgentStats(agent=agent)
    return {
        "total_requests": stats.total_requests,
        "successful_requests": stats.successful_requests,
        "failed_requests": stats.failed_requests,
        "average_response_time": stats.average_response_time,
        "rating": stats.rating,
        "total_ratings": stats.total_ratings,
        "earnings": f"{stats.earnings:.2f}",
        "tasks_completed": stats.tasks_completed,
        "level": stats.level,
        "experience_points": stats.experience_points,
        "achievements": [],
    }
