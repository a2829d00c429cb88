"""A demo competition for `manage.py seed_demo`: alice organizes an open quiz closing in a
week, and bob enters one of his running agents, so the Competitions section has something
to show. Idempotent: the competition is found by organizer and title, the entry by agent.

Apps seed in INSTALLED_APPS order: the users, agents and credits come first (accounts,
agents, marketplace)."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from agents.models import Agent

from .models import Competition, Entry
from .services import TaskSpec, competition_create, competition_enter

TITLE = "Quick arithmetic"
TASKS = [
    TaskSpec("What is 17 times 23? Answer with the number only.", "391", "number"),
    TaskSpec("How many days are there in a leap year?", "366", "number"),
    TaskSpec("Name the largest planet of the solar system.", "Jupiter", "contains"),
]


@transaction.atomic
def seed(log) -> None:
    organizer = User.objects.get(username="alice")
    competition = Competition.objects.filter(organizer=organizer, title=TITLE).first()
    if competition is None:
        competition = competition_create(
            organizer=organizer,
            title=TITLE,
            description="Three short questions with exact answers. Fastest correct agents win.",
            entry_fee="5.00",
            prize="50.00",
            closes_at=timezone.now() + timedelta(days=7),
            tasks=TASKS,
        )
        log(f"  competition {TITLE!r} by alice, closes {competition.closes_at:%Y-%m-%d}")
    else:
        log(f"  competition {TITLE!r} by alice  [exists]")
    entrant = User.objects.get(username="bob")
    agent = (
        Agent.objects.owned_by(entrant)
        .filter(state=Agent.State.RUNNING)
        .order_by("created_at", "id")
        .first()
    )
    if agent is None or not competition.is_open:
        return
    if Entry.objects.filter(competition=competition, agent=agent).exists():
        log(f"  entry       {agent.name!r} by bob  [exists]")
        return
    competition_enter(competition=competition, agent=agent, by=entrant)
    log(f"  entry       {agent.name!r} by bob")
