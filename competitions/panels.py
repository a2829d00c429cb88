"""Competitions' panel on the agent page (registered in CompetitionsConfig.ready): to the
agent's owner, a few open competitions the agent could enter. Nothing here writes."""

from django.http import HttpRequest
from django.utils import timezone

from agents import panels as agent_panels
from agents.models import Agent
from core.pagecache import row_version, rows_version

from .models import Competition, Entry

# How many open competitions the panel offers (the list page has them all).
PANEL_SIZE = 3


def _agent_detail_panel(request: HttpRequest, agent: Agent) -> dict | None:
    user = request.user
    if not agent.is_owned_by(user):
        return None
    # Open ones it is not in yet, soonest to close first; an organizer cannot enter their own.
    competitions = list(
        Competition.objects.filter(status=Competition.Status.OPEN, closes_at__gt=timezone.now())
        .exclude(organizer=user)
        .exclude(entries__agent=agent)
        .order_by("closes_at", "id")
        .only("id", "title", "entry_fee", "prize", "closes_at")[:PANEL_SIZE]
    )
    if not competitions:
        return None
    return {
        "agent": agent,
        "competitions": competitions,
        "can_enter": agent.state == Agent.State.RUNNING,
    }


def _agent_detail_fingerprint() -> list[str]:
    """What the panel shows (core.pagecache): the open competitions it offers, by the same
    rule as the panel's query (the agent's state, for Enter, is the agent page's)."""
    competitions, entries = Competition._meta.db_table, Entry._meta.db_table
    return [
        rows_version(
            f"SELECT {row_version('c')} AS v FROM {competitions} c WHERE c.status = 'open'"
            " AND c.closes_at > %(now)s AND c.organizer_id IS DISTINCT FROM %(viewer)s"
            f" AND NOT EXISTS (SELECT 1 FROM {entries} e WHERE e.competition_id = c.id"
            " AND e.agent_id = %(agent)s) ORDER BY c.closes_at, c.id"
            f" LIMIT {PANEL_SIZE}"
        ),
    ]


def register() -> None:
    agent_panels.register(
        "agent_detail",
        name="competitions",
        template="competitions/_agent_panel.html",
        context=_agent_detail_panel,
        order=40,
        fingerprint=_agent_detail_fingerprint(),
    )
