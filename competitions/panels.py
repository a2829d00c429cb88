"""Competitions' panel on the agent page (registered in CompetitionsConfig.ready): to the
agent's owner, a few open competitions the agent could enter. Nothing here writes."""

from django.http import HttpRequest
from django.utils import timezone

from agents import panels as agent_panels
from agents.models import Agent

from .models import Competition

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


def register() -> None:
    agent_panels.register(
        "agent_detail",
        name="competitions",
        template="competitions/_agent_panel.html",
        context=_agent_detail_panel,
        order=40,
    )
