"""The reaper: runs and task rows a dead worker left behind end on their own, with no other
traffic (issue 11, "Orphaned runs")."""

import signal
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from agents import services
from agents.models import Run
from agents.tasks import execute_run
from tests.agents.conftest import wait_for
from tests.agents.test_execution import chat, make_agent
from tests.factories import RunFactory, UserFactory

REAPED = "agents.services.WorkerLost"


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def in_flight_run(status: str = "running", heartbeat_age: float = 0) -> Run:
    return RunFactory(
        status=status,
        output=None,
        started_at=ago(heartbeat_age) if status == "running" else None,
        heartbeat_at=ago(heartbeat_age) if status == "running" else None,
        worker_id="dead-host:1" if status == "running" else "",
    )


def task_row(run_id: int, *, status: str = "RUNNING", started_age: float = 0) -> DBTaskResult:
    """The task row behind a turn, as a worker that claimed it left it."""
    with transaction.atomic():  # a live worker must not claim it in between
        result = execute_run.enqueue(run_id=run_id)
        if status != "READY":
            DBTaskResult.objects.filter(pk=result.id).update(
                status=status, started_at=ago(started_age), worker_ids=["dead-host:1"]
            )
    return DBTaskResult.objects.get(pk=result.id)


def test_one_tick_fails_a_stale_run_and_its_task_row_not_a_fresh_one(db, settings):
    settings.AGENT_RUN_LEASE_SECONDS = 30
    stale = in_flight_run(heartbeat_age=60)
    stale_task = task_row(stale.pk, started_age=60)
    fresh = in_flight_run(heartbeat_age=1)
    fresh_task = task_row(fresh.pk, started_age=1)

    assert services.runs_reap() == 1

    stale.refresh_from_db()
    assert stale.status == "failed"
    assert "stopped responding" in stale.error
    stale_task.refresh_from_db()
    assert stale_task.status == "FAILED"
    assert stale_task.finished_at is not None
    assert stale_task.exception_class_path == REAPED
    assert "lease" in stale_task.traceback
    assert stale_task.task_result.errors[0].exception_class.__name__ == "WorkerLost"
    fresh.refresh_from_db()
    fresh_task.refresh_from_db()
    assert (fresh.status, fresh_task.status) == ("running", "RUNNING")

    # Any number of reapers may tick: a second one finds nothing left to do.
    finished_at = stale_task.finished_at
    assert services.runs_reap() == 0
    stale_task.refresh_from_db()
    assert stale_task.finished_at == finished_at


def test_task_rows_a_dead_worker_left_behind_final_or_deleted_runs_are_failed(db, settings):
    settings.AGENT_RUN_LEASE_SECONDS = 30
    settings.AGENT_PROVIDER_TIMEOUT_SECONDS = 60
    settings.AGENT_RUN_TIMEOUT_SECONDS = 120
    # Cancelled long ago while its worker was dead: the task row was never marked done.
    cancelled_long_ago = RunFactory(status="cancelled", finished_at=ago(600))
    orphan = task_row(cancelled_long_ago.pk, started_age=900)
    # Finished a moment ago: a live worker is about to mark its task row done.
    just_finished = RunFactory(status="succeeded", finished_at=ago(1))
    winding_down = task_row(just_finished.pk, started_age=5)
    # Deleted with its agent while its worker was dead.
    gone = task_row(987654, started_age=900)
    # Deleted a moment ago: its live worker stops within a tick.
    gone_just_now = task_row(987655, started_age=5)
    done = task_row(cancelled_long_ago.pk, status="SUCCESSFUL", started_age=900)

    assert services.runs_reap() == 0  # no run to reap: the task table is not even read
    assert services.turn_tasks_reap() == 2  # the reaper's sweep, once a minute

    for row in (orphan, winding_down, gone, gone_just_now, done):
        row.refresh_from_db()
    assert (orphan.status, orphan.exception_class_path) == ("FAILED", REAPED)
    assert (gone.status, gone.exception_class_path) == ("FAILED", REAPED)
    assert winding_down.status == "RUNNING"
    assert gone_just_now.status == "RUNNING"
    assert done.status == "SUCCESSFUL"
    cancelled_long_ago.refresh_from_db()
    assert cancelled_long_ago.status == "cancelled"  # a final run keeps its outcome


def test_a_turn_whose_worker_died_between_claiming_the_task_and_the_run_is_failed(db, settings):
    settings.AGENT_RUN_LEASE_SECONDS = 30
    settings.AGENT_QUEUE_TIMEOUT_SECONDS = 600
    claimed_by_the_dead = in_flight_run(status="queued")
    its_task = task_row(claimed_by_the_dead.pk, started_age=60)
    waiting = in_flight_run(status="queued")  # a backlog: no worker free yet
    ready = task_row(waiting.pk, status="READY")
    Run.objects.update(created_at=ago(61))

    assert services.runs_reap() == 1

    claimed_by_the_dead.refresh_from_db()
    its_task.refresh_from_db()
    assert claimed_by_the_dead.status == "failed"
    assert "stopped responding" in claimed_by_the_dead.error
    assert its_task.status == "FAILED"
    waiting.refresh_from_db()
    ready.refresh_from_db()
    assert (waiting.status, ready.status) == ("queued", "READY")


@pytest.fixture
def fast_reaper(settings):
    # Set before the `worker` fixture starts its threads.
    settings.AGENT_RUN_LEASE_SECONDS = 1
    settings.AGENT_REAP_INTERVAL_SECONDS = 0.2


def test_the_worker_reaps_on_its_own_clock_with_no_turn_in_flight(fast_reaper, worker):
    time.sleep(0.5)  # the worker is up, has ticked once and holds no turn
    abandoned = in_flight_run(heartbeat_age=0)
    abandoned_task = task_row(abandoned.pk)

    run = wait_for(lambda: (run := Run.objects.get(pk=abandoned.pk)).is_final and run, timeout=5)

    assert run.status == "failed"
    wait_for(lambda: DBTaskResult.objects.get(pk=abandoned_task.pk).status == "FAILED", timeout=2)


@pytest.mark.slow
def test_a_killed_worker_s_turns_end_within_a_lease_with_no_other_traffic(worker_process):
    lease = 5  # long enough that the new worker's start-up tick finds every lease still fresh
    env = {"AGENT_RUN_LEASE_SECONDS": str(lease)}
    owner = UserFactory()
    agent = make_agent(owner, "slow-30")
    doomed = worker_process(env=env)
    run_ids = [chat(agent, owner, f"slow {n}").pk for n in range(5)]
    running = Run.objects.filter(pk__in=run_ids, status="running")
    wait_for(lambda: running.count() == 5, timeout=30)

    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()
    worker_process(env=env)  # and nothing else: no new turn arrives

    final = Run.objects.filter(pk__in=run_ids).exclude(status__in=Run.IN_FLIGHT)
    wait_for(lambda: final.count() == 5, timeout=lease + 10, interval=0.1)
    elapsed = time.monotonic() - killed_at
    wait_for(lambda: not DBTaskResult.objects.filter(status="RUNNING").exists(), timeout=2)

    print(f"kill → all 5 runs final: {elapsed:.1f} s (lease {lease} s)")
    assert elapsed <= lease + 10
    runs = Run.objects.filter(pk__in=run_ids)
    assert {run.status for run in runs} == {"failed"}
    assert all("stopped responding" in run.error for run in runs)
    tasks = DBTaskResult.objects.all()
    assert tasks.count() == 5
    assert {(task.status, task.exception_class_path) for task in tasks} == {("FAILED", REAPED)}
