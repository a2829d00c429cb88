"""On PostgreSQL a queued turn wakes idle workers at once (LISTEN/NOTIFY); the poll is only
the fallback. SQLite has no such channel and keeps polling."""

import threading
import time

import pytest
from django.db import connection

from agents import services
from agents.runtime import wakeup
from agents.validation import AgentConfig
from tests.agents.conftest import running_worker, wait_final, wait_for
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"),
]


def test_announce_reaches_a_listener():
    event = threading.Event()
    listener = wakeup.Listener(event)
    listener.start()
    try:
        assert listener.listening.wait(5)
        wakeup.announce()
        assert event.wait(2)
    finally:
        listener.stop()


def test_a_queued_turn_is_claimed_long_before_the_next_poll(fake_llm):
    # The fallback poll every 30 s: the test would time out waiting for it.
    with running_worker(concurrency=2, interval=30, worker_id="wakeup-test"):
        owner = UserFactory()
        agent = services.agent_create(
            owner=owner, config=AgentConfig(name="Echo", model="openai:echo")
        )
        agent = services.agent_start(agent=agent, by=owner)
        # The worker's first (empty) claim has happened and it sleeps in its 30 s poll.
        time.sleep(1.5)

        started = time.monotonic()
        run = services.run_start(agent=agent, user=owner, message="ping")
        wait_for(lambda: type(run).objects.get(pk=run.pk).status != "queued", timeout=5)

        assert time.monotonic() - started < 5
        assert wait_final(run.pk).status == "succeeded"
