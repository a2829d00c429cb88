"""On PostgreSQL a queued turn wakes idle workers at once (LISTEN/NOTIFY); the poll is only
the fallback. SQLite has no such channel and keeps polling."""

import threading
import time

import pytest
from django.db import connection

from agents import services
from agents.management.commands.run_worker import ConcurrentWorker
from agents.runtime import wakeup
from agents.validation import AgentConfig
from tests.agents.conftest import wait_final, wait_for
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
    worker = ConcurrentWorker(
        concurrency=2,
        queue_names=["default"],
        interval=30,  # the fallback poll: the test would time out waiting for it
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="wakeup-test",
        excluded_queue_names=[],
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
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
    finally:
        worker.running = False
        worker.wakeup.set()
        thread.join(timeout=30)
