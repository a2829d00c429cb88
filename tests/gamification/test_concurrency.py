"""Counters under concurrency: many runs of one agent finishing at once, and many raters
rating at once, on PostgreSQL (real row locks, real parallel transactions)."""

import threading

import pytest
from django.db import connection, connections

from agents import services as agents
from gamification import services
from gamification.models import AgentAchievement, AgentStats, ExperienceEvent
from tests.factories import RunFactory, UserFactory

from .conftest import finish_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite serialises every write transaction, so there is no race to lose; "
        "run with DATABASE_URL=postgres://... to exercise the row locks",
    ),
]

THREADS = 12


def in_parallel(work, items) -> list[BaseException]:
    """Run work(item) for each item in its own thread (own connection), all released at
    once by a barrier; return the errors raised."""
    barrier = threading.Barrier(len(items))
    errors: list[BaseException] = []

    def target(item):
        try:
            barrier.wait(timeout=10)
            work(item)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_runs_finishing_at_once_lose_no_increment(agent):
    runs = [
        RunFactory(conversation__agent=agent, status="running", output=None) for _ in range(THREADS)
    ]
    for run in runs:
        agents.run_step_record(run=run, index=1, kind="action", text="a")
        agents.run_step_record(run=run, index=2, kind="final_answer", text="b")
    statuses = ["succeeded" if n % 3 else "failed" for n in range(THREADS)]

    errors = in_parallel(
        lambda pair: agents.run_finish(run=pair[0], status=pair[1]),
        list(zip(runs, statuses, strict=True)),
    )

    assert errors == []
    stats = AgentStats.objects.get(agent=agent)
    succeeded = statuses.count("succeeded")
    assert stats.total_requests == THREADS
    assert stats.successful_requests == stats.tasks_completed == succeeded
    assert stats.failed_requests == THREADS - succeeded
    assert stats.experience_points == 15 * succeeded
    assert stats.level == 2  # 8 x 15 = 120 XP
    assert ExperienceEvent.objects.filter(agent=agent).count() == THREADS
    # Each achievement unlocked exactly once, though every run "saw" the first run.
    codes = list(
        AgentAchievement.objects.filter(agent=agent).values_list("achievement__code", flat=True)
    )
    assert sorted(codes) == sorted(stats.achievement_codes) == ["first_run"]


def test_the_same_run_recorded_twice_at_once_counts_once(agent):
    run = RunFactory(conversation__agent=agent, status="succeeded", duration_ms=10)

    errors = in_parallel(lambda _n: services.record_run(run=run), [1, 2, 3, 4])

    assert errors == []
    assert AgentStats.objects.get(agent=agent).total_requests == 1


def test_ratings_at_once_keep_an_exact_average(agent):
    raters = UserFactory.create_batch(THREADS)
    for rater in raters:
        finish_run(agent, rater)
    stars = [(n % 5) + 1 for n in range(THREADS)]

    errors = in_parallel(
        lambda pair: services.rating_save(agent=agent, user=pair[0], stars=pair[1]),
        list(zip(raters, stars, strict=True)),
    )

    assert errors == []
    stats = AgentStats.objects.get(agent=agent)
    assert stats.total_ratings == THREADS
    assert stats.rating == pytest.approx(sum(stars) / THREADS)
    assert stats.five_star_ratings == stars.count(5)
    assert stats.experience_points == 10 * THREADS + 25 * stars.count(5)


def test_sales_at_once_add_up(agent):
    errors = in_parallel(
        lambda n: services.record_sale(agent=agent, amount="10.25", kind="rental"),
        list(range(THREADS)),
    )

    assert errors == []
    stats = AgentStats.objects.get(agent=agent)
    assert stats.rentals_count == THREADS
    assert str(stats.earnings) == f"{10.25 * THREADS:.2f}"
    assert stats.experience_points == 40 * THREADS
