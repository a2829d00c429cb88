"""A queued turn wakes idle workers at once (PostgreSQL LISTEN/NOTIFY, a Unix datagram
socket per worker on SQLite); the poll is only the fallback."""

import socket
import stat
import threading
import time

import pytest
from django.db import connection, transaction

from agents import services
from agents.runtime import wakeup
from agents.validation import AgentConfig
from tests.agents.conftest import running_worker, wait_final, wait_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_announce_reaches_a_listener():
    event = threading.Event()
    listener = wakeup.listener(event)
    assert listener is not None and wakeup.supported()
    listener.start()
    try:
        assert listener.listening.wait(5)
        wakeup.announce()
        assert event.wait(2)
    finally:
        listener.stop()


def test_an_announcement_inside_a_transaction_arrives_at_its_commit():
    # Queueing a turn announces it in the transaction that inserts the task row: a worker
    # woken earlier would find no task and sleep a whole poll interval.
    event = threading.Event()
    listener = wakeup.listener(event)
    listener.start()
    try:
        assert listener.listening.wait(5)
        with transaction.atomic():
            wakeup.announce()
            assert not event.wait(0.3)
        assert event.wait(2)
    finally:
        listener.stop()


def test_a_queued_turn_is_claimed_long_before_the_next_poll(fake_llm):
    # The fallback poll every 30 s: the test would time out waiting for it.
    with running_worker(concurrency=2, interval=30, worker_id="wakeup-test") as worker:
        owner = UserFactory()
        agent = services.agent_create(
            owner=owner, config=AgentConfig(name="Echo", model="openai:echo")
        )
        agent = services.agent_start(agent=agent, by=owner)
        wait_for(lambda: worker.listener is not None, timeout=10)
        assert worker.listener.listening.wait(10)
        # The worker's first (empty) claim has happened and it sleeps in its 30 s poll.
        time.sleep(1.5)

        started = time.monotonic()
        run = services.run_start(agent=agent, user=owner, message="ping")
        wait_for(lambda: type(run).objects.get(pk=run.pk).status != "queued", timeout=5)

        assert time.monotonic() - started < 5
        assert wait_final(run.pk).status == "succeeded"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the socket directory is SQLite's")
def test_sqlite_wakeups_stay_in_a_private_directory():
    event = threading.Event()
    listener = wakeup.listener(event)
    listener.start()
    try:
        assert listener.listening.wait(5)
        directory = listener.path.parent
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        # A socket left by a worker that died is cleared by the next announcement.
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        dead.bind(str(directory / "0-dead.sock"))
        dead.close()
        wakeup.announce()
        assert event.wait(2)
        assert not (directory / "0-dead.sock").exists()
    finally:
        listener.stop()
        listener.join(5)
    assert not listener.path.exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the socket directory is SQLite's")
def test_a_directory_open_to_others_is_not_used(tmp_path):
    name = tmp_path / "other.sqlite3"
    connection.settings_dict["NAME"], saved = str(name), connection.settings_dict["NAME"]
    try:
        assert wakeup.supported()
        directory = wakeup.listener(threading.Event()).path.parent
        directory.chmod(0o777)
        assert not wakeup.supported() and wakeup.listener(threading.Event()) is None
        wakeup.announce()  # nothing to wake, no error
    finally:
        connection.settings_dict["NAME"] = saved
        directory.chmod(0o700)
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
