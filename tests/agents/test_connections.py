"""Database connections on PostgreSQL: a turn waiting on its model holds none (it gives its
connection back to the pool between writes), and an exhausted pool fails, it does not hang."""

import time

import pytest
from django.db import connection, connections
from django.db.utils import OperationalError

from agents import services
from agents.models import Run, RunStep
from agents.validation import AgentConfig
from tests.agents.conftest import running_worker, wait_final, wait_for
from tests.factories import UserFactory
from tests.fake_openai import _call_number

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="connection limits are PostgreSQL's"
)

TURNS = 16
SLOW = 6.0  # seconds each turn waits on its model while we count


@pytest.fixture
def wide_worker(transactional_db, fake_llm):
    """run_worker's ConcurrentWorker in a thread of this process, TURNS turns at once."""
    with running_worker(concurrency=TURNS, worker_id="test-connections") as worker:
        yield worker


def held_connections() -> int:
    """Connections taken by this process's threads (the worker's among them) right now: out
    of the pool, or, without one, every backend connected to the test database."""
    pool = connection.pool
    if pool is not None:
        stats = pool.get_stats()
        return stats["pool_size"] - stats["pool_available"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def fewest_held() -> int:
    """held_connections(), the fewest over a second: the worker's periodic threads (reaper,
    jobs) take one for a moment each tick, and the pool checks a returned connection before
    it counts as available again."""
    samples = []
    for _ in range(10):
        samples.append(held_connections())
        time.sleep(0.1)
    return min(samples)


def slow_agent(owner, model: str):
    agent = services.agent_create(owner=owner, config=AgentConfig(name="Slow", model=model))
    return services.agent_start(agent=agent, by=owner)


def test_turns_waiting_on_the_model_hold_no_connection(wide_worker, fake_llm, monkeypatch):
    # A first step at once (stored), then a slow second model call: the count is taken while
    # every turn waits on the model after a stored step.
    original = fake_llm.reply_for

    def reply_for(model: str, messages: list[dict]) -> tuple[int, str]:
        if model != "step-then-slow":
            return original(model, messages)
        if _call_number(messages) == 0:
            return 200, "<code>\nprint('step one')\n</code>"
        fake_llm.stopping.wait(SLOW)
        return 200, '<code>\nfinal_answer("slow done")\n</code>'

    monkeypatch.setattr(fake_llm, "reply_for", reply_for)
    owner = UserFactory()
    agent = slow_agent(owner, "openai:step-then-slow")
    # What this process holds with the worker idle (its threads, and any an earlier test of
    # this process left running): the turns are measured against it.
    idle = fewest_held()
    runs = [services.run_start(agent=agent, user=owner, message=f"turn {n}") for n in range(TURNS)]
    ids = [run.pk for run in runs]

    wait_for(lambda: RunStep.objects.filter(run_id__in=ids).count() == TURNS, timeout=SLOW)
    wait_for(
        lambda: sum(r.get("model") == "step-then-slow" for r in fake_llm.requests) == 2 * TURNS,
        timeout=SLOW,
    )
    time.sleep(0.3)  # let the last turn thread hand its connection back
    # Turns that kept their connections would show in every sample.
    held = fewest_held() - idle
    assert wide_worker.busy == TURNS
    assert Run.objects.filter(pk__in=ids, status=Run.Status.RUNNING).count() == TURNS

    # At most the monitor's, now that it watches turns (the other threads were counted
    # idle); the LISTEN connection is outside the pool. Without the release: one per turn.
    assert held <= 2, f"{held} more connections held with {TURNS} turns waiting on the model"
    for run_id in ids:
        assert wait_final(run_id, timeout=30).status == Run.Status.SUCCEEDED


@pytest.mark.skipif(not connection.settings_dict["OPTIONS"].get("pool"), reason="the pool is off")
def test_an_exhausted_pool_fails_within_its_timeout(db):
    """A thread that gets no connection fails with an error naming the wait, never hangs."""
    settings_dict = {
        **connection.settings_dict,
        "OPTIONS": {
            **connection.settings_dict["OPTIONS"],
            "pool": {
                **connection.settings_dict["OPTIONS"]["pool"],
                "min_size": 0,
                "max_size": 1,
                "timeout": 0.5,
            },
        },
    }
    wrapper = type(connections["default"])
    first = wrapper(settings_dict, alias="pool_exhaustion")
    second = wrapper(settings_dict, alias="pool_exhaustion")
    try:
        first.ensure_connection()  # the pool's only connection
        started = time.monotonic()
        with pytest.raises(OperationalError, match="couldn't get a connection"):
            second.ensure_connection()
        assert time.monotonic() - started < 5
    finally:
        first.close()
        second.close()
        first.close_pool()
