"""The judging job, run to the end: runs started per entry × task, graded, ranked, paid.

The worker's part is played here: each run the job starts is finished with the answer its
agent would give (run_claim + run_finish, as the worker's turn does), with chosen durations.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents.models import Run
from agents.services import agent_stop, run_claim, run_finish
from competitions.judging import competitions_judge
from competitions.models import Competition, Evaluation
from competitions.services import competition_enter
from marketplace.models import LedgerEntry
from marketplace.services import wallet_for
from social.models import FeedEvent
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db

RIGHT = {"What is 6 times 7?": "The answer is 42", "Say hello": "Hello!"}


def available(user) -> Decimal:
    wallet = wallet_for(user=user)
    wallet.refresh_from_db()
    return wallet.balance - wallet.held


def close(competition) -> None:
    Competition.objects.filter(pk=competition.pk).update(closes_at=timezone.now())


def play_worker(answers: dict[int, dict[str, str]], durations: dict[int, int]) -> int:
    """Finish every queued run as its agent would: answers[agent_id][prompt] (else a wrong
    answer), taking durations[agent_id] ms."""
    done = 0
    for run in Run.objects.filter(status=Run.Status.QUEUED):
        run_claim(run_id=run.pk, worker_id="test")
        started = timezone.now() - timedelta(milliseconds=durations.get(run.agent_id, 500))
        Run.objects.filter(pk=run.pk).update(started_at=started)
        output = answers.get(run.agent_id, {}).get(run.message, "I do not know")
        run_finish(run=run, status=Run.Status.SUCCEEDED, output=output)
        done += 1
    return done


def judge_to_the_end(answers, durations) -> None:
    for _ in range(20):
        competitions_judge()
        if not play_worker(answers, durations):
            competitions_judge()
            if not Competition.objects.filter(status="judging").exists():
                return
    raise AssertionError("judging did not end")


def test_ranks_and_pays_to_the_cent(user, make_competition, settings):
    settings.COMPETITION_MAX_RUNS_IN_FLIGHT = 3
    competition = make_competition(user, entry_fee="10.00", prize="100.00")
    owners = [UserFactory() for _ in range(4)]
    agents = [AgentFactory(owner=owner) for owner in owners]
    for agent, owner in zip(agents, owners, strict=True):
        competition_enter(competition=competition, agent=agent, by=owner)
    best, slow_one, fast_one, wrong = agents
    answers = {
        best.pk: RIGHT,
        slow_one.pk: {"What is 6 times 7?": "42"},
        fast_one.pk: {"What is 6 times 7?": "forty-two is 42"},
    }
    durations = {best.pk: 2000, slow_one.pk: 900, fast_one.pk: 100}
    close(competition)

    competitions_judge()
    assert Run.objects.count() == 3  # bounded: at most 3 judging runs in flight
    judge_to_the_end(answers, durations)

    competition.refresh_from_db()
    assert competition.status == "finished"
    # Every entry × task ran exactly once, as the entrant, in a conversation of its own.
    assert Run.objects.count() == 8
    assert Evaluation.objects.filter(status="passed").count() == 4
    for run in Run.objects.all():
        assert run.user_id == run.agent.owner_id
    assert Run.objects.values("conversation").distinct().count() == 8
    # Pool 140, fee 14, 126 split 50/30/20: 63.00, 37.80, 25.20.
    entries = {e.agent_id: e for e in competition.entries.all()}
    assert [entries[a.pk].rank for a in agents] == [1, 3, 2, None]
    assert [entries[a.pk].score for a in agents] == [2, 1, 1, 0]
    assert entries[best.pk].payout == Decimal("63.00")
    assert entries[fast_one.pk].payout == Decimal("37.80")
    assert entries[slow_one.pk].payout == Decimal("25.20")
    assert available(owners[0]) == Decimal("1053.00")
    assert available(owners[3]) == Decimal("990.00")
    assert available(user) == Decimal("900.00")
    assert LedgerEntry.objects.escrow().total() == 0
    assert LedgerEntry.objects.platform().total() == Decimal("14.00")
    assert_money_conserved()
    won = FeedEvent.objects.get(verb=FeedEvent.Verb.WON_COMPETITION)
    assert won.actor == owners[0] and won.competition_id == competition.pk

    # Later ticks change nothing: nothing is run, graded or paid twice.
    competitions_judge()
    assert Run.objects.count() == 8
    assert LedgerEntry.objects.filter(kind="competition_payout").count() == 3


def test_nobody_places_cancels_and_refunds(user, make_competition):
    competition = make_competition(user, entry_fee="10.00", prize="50.00")
    owners = [UserFactory() for _ in range(2)]
    for owner in owners:
        competition_enter(competition=competition, agent=AgentFactory(owner=owner), by=owner)
    close(competition)
    judge_to_the_end({}, {})
    competition.refresh_from_db()
    assert competition.status == "cancelled"
    assert available(user) == available(owners[0]) == Decimal("1000.00")
    assert LedgerEntry.objects.escrow().total() == 0
    assert LedgerEntry.objects.platform().total() == 0
    assert_money_conserved()


def test_no_entries_refunds_the_prize(user, make_competition):
    competition = make_competition(user, prize="50.00")
    close(competition)
    competitions_judge()
    competition.refresh_from_db()
    assert competition.status == "cancelled"
    assert available(user) == Decimal("1000.00")


def test_a_stopped_agent_fails_its_tasks(user, make_competition):
    competition = make_competition(user)
    good, stopped = UserFactory(), UserFactory()
    good_agent = AgentFactory(owner=good)
    stopped_agent = AgentFactory(owner=stopped)
    competition_enter(competition=competition, agent=good_agent, by=good)
    competition_enter(competition=competition, agent=stopped_agent, by=stopped)
    agent_stop(agent=stopped_agent, by=stopped)
    close(competition)
    judge_to_the_end({good_agent.pk: RIGHT}, {})
    results = {e.agent_id: e for e in competition.entries.all()}
    assert results[good_agent.pk].rank == 1 and results[stopped_agent.pk].rank is None
    assert not Run.objects.filter(agent=stopped_agent).exists()
    assert_money_conserved()


def test_a_task_past_its_time_limit_fails(user, make_competition, settings):
    competition = make_competition(user)
    owner = UserFactory()
    competition_enter(competition=competition, agent=AgentFactory(owner=owner), by=owner)
    close(competition)
    competitions_judge()
    Evaluation.objects.update(started_at=timezone.now() - timedelta(hours=1))
    competitions_judge()
    assert set(Run.objects.values_list("status", flat=True)) == {"timed_out"}
    competition.refresh_from_db()
    assert competition.status == "cancelled"


def test_a_worker_lost_mid_task_runs_it_again_and_grades_it_once(user, make_competition, settings):
    """A restart: the job runs again from scratch (another worker), the dead worker's turn is
    reaped; a platform crash costs the entrant nothing: the task is run again, graded once
    from the new run (docs/API.md "Competitions")."""
    from agents.services import runs_reap

    competition = make_competition(user)
    owner = UserFactory()
    agent = AgentFactory(owner=owner)
    competition_enter(competition=competition, agent=agent, by=owner)
    close(competition)
    competitions_judge()
    first = Run.objects.order_by("pk").first()
    started = Evaluation.objects.get(run=first).started_at
    run_claim(run_id=first.pk, worker_id="dead")
    stale = timezone.now() - timedelta(seconds=settings.AGENT_RUN_LEASE_SECONDS + 5)
    Run.objects.filter(pk=first.pk).update(heartbeat_at=stale)
    runs_reap()
    judge_to_the_end({agent.pk: RIGHT}, {})
    assert Run.objects.count() == 3
    assert not Evaluation.objects.filter(run=first).exists()
    again = Evaluation.objects.get(task__prompt=first.message)
    assert again.status == "passed" and again.run.status == "succeeded"
    assert again.started_at == started  # the time limit counts from the first start
    entry = competition.entries.get()
    assert entry.score == 2 and entry.rank == 1
    assert_money_conserved()


def test_a_task_whose_runs_die_past_its_time_limit_fails(user, make_competition, settings):
    """Re-running after a crash stops at the task's time limit (from its first start): a
    task that kills every worker it runs on cannot loop for ever."""
    from agents.services import runs_reap

    competition = make_competition(user)
    owner = UserFactory()
    agent = AgentFactory(owner=owner)
    competition_enter(competition=competition, agent=agent, by=owner)
    close(competition)
    competitions_judge()
    first = Run.objects.order_by("pk").first()
    run_claim(run_id=first.pk, worker_id="dead")
    stale = timezone.now() - timedelta(seconds=settings.AGENT_RUN_LEASE_SECONDS + 5)
    Run.objects.filter(pk=first.pk).update(heartbeat_at=stale)
    runs_reap()
    long_ago = timezone.now() - timedelta(seconds=settings.COMPETITION_TASK_SECONDS + 1)
    Evaluation.objects.filter(run=first).update(started_at=long_ago)

    competitions_judge()

    evaluation = Evaluation.objects.get(run=first)
    assert evaluation.status == "failed" and evaluation.graded_at is not None
    assert Run.objects.count() == 2  # not started again


def test_a_judging_run_and_its_task_commit_together(user, make_competition):
    """The run and its task row are one commit (agents.services.run_start): a worker killed
    after starting judging runs leaves no queued run without a task to execute it."""
    from django_tasks_db.models import DBTaskResult

    competition = make_competition(user)
    owner = UserFactory()
    competition_enter(competition=competition, agent=AgentFactory(owner=owner), by=owner)
    close(competition)
    competitions_judge()  # no on-commit callbacks run here: the tasks need none

    assert Run.objects.filter(status="queued").count() == 2
    queued = {task.args_kwargs["kwargs"]["run_id"] for task in DBTaskResult.objects.all()}
    assert queued == set(Run.objects.values_list("pk", flat=True))


def test_judging_takes_at_most_half_the_live_workers_slots(user, make_competition, settings):
    """Judging runs queue with chat turns (first in, first out): a worker with fewer slots
    than COMPETITION_MAX_RUNS_IN_FLIGHT keeps half of them for chat (bench/competition.py)."""
    from agents.models import Worker
    from competitions.judging import evaluations_start, max_in_flight

    settings.COMPETITION_MAX_RUNS_IN_FLIGHT = 20
    assert max_in_flight() == 20  # no worker registered: the setting alone
    Worker.objects.create(name="live:1", capacity=8)
    Worker.objects.create(name="dead:2", capacity=50, last_seen=timezone.now() - timedelta(hours=1))
    assert max_in_flight() == 4
    competition = make_competition(user)
    for _ in range(4):
        owner = UserFactory()
        competition_enter(competition=competition, agent=AgentFactory(owner=owner), by=owner)
    close(competition)

    competitions_judge()

    assert Run.objects.count() == 4
    assert evaluations_start() == 0  # full until some are graded
    Worker.objects.create(name="live:3", capacity=100)
    assert max_in_flight() == 20
