from datetime import timedelta

import pytest
from django.utils import timezone

from agents import services as agents
from agents.validation import AgentConfig
from tests.factories import RunFactory, UserFactory


@pytest.fixture(autouse=True)
def _achievement_definitions(request):
    """Transactional tests flush the table the data migration filled; put it back."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        from gamification.services import achievements_sync

        achievements_sync()


@pytest.fixture
def agent(user):
    """A running agent of `user`, made through the service (so it has its stats row)."""
    made = agents.agent_create(owner=user, config=AgentConfig(name="Scorer", model="openai:echo"))
    return agents.agent_start(agent=made, by=user)


@pytest.fixture
def rater(db):
    return UserFactory(username="rater")


def finish_run(agent, user=None, *, status="succeeded", steps=1, duration_ms=1000):
    """A run of `agent` finished through agents.services.run_finish (so record_run counts
    it as in production), with `steps` stored steps and about `duration_ms` of wall clock."""
    user = user or agent.owner
    run = RunFactory(
        conversation__agent=agent,
        conversation__user=user,
        status="running",
        output=None,
        started_at=timezone.now() - timedelta(milliseconds=duration_ms),
    )
    for index in range(1, steps + 1):
        kind = "final_answer" if index == steps else "action"
        agents.run_step_record(run=run, index=index, kind=kind, text=f"step {index}")
    agents.run_finish(run=run, status=status, output="42" if status == "succeeded" else None)
    run.refresh_from_db()
    return run


@pytest.fixture
def visible_to_all(db):
    """visible(agent): make the agent visible to everyone with an active listing."""
    from tests.factories import ListingFactory

    def visible(agent):
        ListingFactory(agent=agent)
        return agent

    return visible


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # These tests make many users; the production hasher's cost is not what they test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
