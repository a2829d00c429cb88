"""A worker killed (SIGKILL, its whole process group) while it judges, then a new one:
the competition still finishes, every evaluation is graded once from one run, the tasks
whose runs died with the worker are run again (a platform crash costs no entrant a task:
docs/API.md "Competitions"), and the pool is paid out exactly once."""

import os
import signal
import time

import pytest
from django.utils import timezone

from agents.models import Run
from competitions.models import Competition, Evaluation
from competitions.services import TaskSpec, competition_enter
from gamification.models import ExperienceEvent
from marketplace.models import LedgerEntry
from tests.agents.conftest import wait_for
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.slow

# A dead worker's runs are reaped a lease after their last heartbeat (agents/runtime/
# reaper.py): short here, long enough that a live worker's beats (every lease / 3) hold
# on a busy 2-core machine (at 4 s, a parallel run once reaped the new worker's live run).
WORKER_ENV = {"AGENT_RUN_LEASE_SECONDS": "6", "AGENT_REAP_INTERVAL_SECONDS": "0.5"}
# The fake server's `slow-<s>` model answers "slow done" after s seconds.
TASKS = [TaskSpec(f"Task {n}: say it", "slow done", "contains") for n in range(3)]


@pytest.fixture
def spawn_worker(worker_process):
    """A real worker in a process group of its own (with its sandbox fork server and
    children), so the test can SIGKILL all of it as a crash would."""
    return lambda: worker_process(env=WORKER_ENV, own_group=True)


def test_a_worker_killed_while_judging_is_replaced_and_judging_ends_once(
    spawn_worker, user, make_competition
):
    competition = make_competition(user, entry_fee="10.00", prize="30.00", tasks=TASKS)
    agents = []
    for seconds in ("2", "2.5", "3"):
        owner = UserFactory()
        agents.append(AgentFactory(owner=owner, model=f"openai:slow-{seconds}"))
        competition_enter(competition=competition, agent=agents[-1], by=owner)
    doomed = spawn_worker()
    Competition.objects.filter(pk=competition.pk).update(closes_at=timezone.now())

    # Mid-flight: the judging runs are executing in the doomed worker.
    judging = Run.objects.filter(agent__in=agents, status=Run.Status.RUNNING)
    wait_for(lambda: judging.count() >= 3, timeout=30)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    killed_at = time.monotonic()
    cut_short = set(Run.objects.filter(agent__in=agents).in_flight().values_list("pk", flat=True))
    assert cut_short, "the kill came after judging"
    spawn_worker()

    try:
        wait_for(
            lambda: Competition.objects.get(pk=competition.pk).status != "judging",
            timeout=45,
            interval=0.2,
        )
    except AssertionError:
        runs = Run.objects.filter(agent__in=agents).values_list("pk", "status", "error")
        states = Evaluation.objects.values_list("pk", "status", "run_id", "started_at")
        raise AssertionError(f"still judging: {list(states)} {list(runs)}") from None
    print(f"kill → competition settled: {time.monotonic() - killed_at:.1f} s")

    competition.refresh_from_db()
    assert competition.status == "finished"
    # The runs the crash cut short were failed by the reaper, graded never, and re-run (a
    # queued one no worker had claimed yet was simply run by the new worker).
    lost = set(Run.objects.filter(error=Run.WORKER_LOST_ERROR).values_list("pk", flat=True))
    assert lost and lost <= cut_short
    assert set(Run.objects.filter(pk__in=cut_short).values_list("status", flat=True)) <= {
        "failed",
        "succeeded",
    }
    evaluations = list(Evaluation.objects.filter(competition=competition).select_related("run"))
    assert len(evaluations) == 9
    for evaluation in evaluations:
        run = evaluation.run
        assert evaluation.status == "passed", (evaluation, run.status, run.error)
        assert run.pk not in lost and run.status == "succeeded"
        assert run.output == "slow done"
        # Graded from this run, after it ended: its duration, not a lost run's.
        assert evaluation.graded_at >= run.finished_at
        assert evaluation.duration_ms == run.duration_ms
    # One run per task, plus one per run lost: nothing ran twice otherwise.
    assert Run.objects.filter(agent__in=agents).count() == 9 + len(lost)
    assert not Run.objects.filter(agent__in=agents).in_flight().exists()

    entries = list(competition.entries.order_by("rank"))
    assert [entry.rank for entry in entries] == [1, 2, 3]
    assert [entry.score for entry in entries] == [3, 3, 3]
    payouts = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.COMPETITION_PAYOUT)
    assert sorted(payouts.values_list("wallet__user_id", flat=True)) == sorted(
        entry.owner_id for entry in entries
    )
    assert LedgerEntry.objects.escrow().total() == 0
    assert_money_conserved()
    podium = ExperienceEvent.objects.filter(kind="podium", competition_id=competition.pk)
    assert sorted(podium.values_list("xp", flat=True)) == [50, 100, 200]
