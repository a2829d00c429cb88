"""Judging, the worker's periodic job (docs/API.md "Competitions", docs/DESIGN.md
"Time-driven work"). Every worker runs it every 2 s, any number at once; each step is a
conditional update, so a competition is claimed once, each evaluation's run starts once
and is graded once, and the payout happens once, also across worker restarts:

1. open competitions past closes_at → judging, with one pending Evaluation per entry × task;
2. pending evaluations → running, each with an ordinary run of the entrant's agent in a
   new conversation of the entrant, at most COMPETITION_MAX_RUNS_IN_FLIGHT at a time and
   never more than half the live workers' turn slots (max_in_flight);
3. running evaluations whose run is final (or past COMPETITION_TASK_SECONDS: the run is
   ended timed_out) → passed / failed by the task's grader; a run the reaper failed because
   its worker died (Run.WORKER_LOST_ERROR) is the platform's fault, not the entrant's: its
   evaluation goes back to pending and step 2 starts a fresh run, within the task's time
   limit counted from its first start (then it fails, so a task that kills workers cannot
   loop for ever);
4. judging competitions with every evaluation graded → ranked and paid
   (services.competition_settle).

"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Run, Worker
from agents.services import run_finish, run_start
from core.errors import DomainError

from . import services
from .graders import grade
from .models import Competition, Entry, Evaluation

logger = logging.getLogger(__name__)


def competitions_judge() -> None:
    competitions_close_due()
    # Grading first frees the slots of the runs that ended since the last tick for this
    # tick's starts: a task then waits one tick for its turn, not two (bench/competition.py).
    evaluations_grade()
    evaluations_start()
    competitions_settle_ready()


def competitions_close_due() -> int:
    closed = 0
    due = Competition.objects.filter(
        status=Competition.Status.OPEN, closes_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    for competition_id in list(due):
        with transaction.atomic():
            claimed = Competition.objects.filter(
                pk=competition_id, status=Competition.Status.OPEN, closes_at__lte=timezone.now()
            ).update(status=Competition.Status.JUDGING)
            if not claimed:
                continue
            competition = Competition.objects.get(pk=competition_id)
            tasks = list(competition.tasks.all())
            Evaluation.objects.bulk_create(
                [
                    Evaluation(entry=entry, task=task, competition=competition)
                    for entry in Entry.objects.filter(competition=competition)
                    for task in tasks
                ],
                ignore_conflicts=True,
            )
            closed += 1
    return closed


def _in_flight() -> int:
    return Evaluation.objects.filter(
        status=Evaluation.Status.RUNNING, competition__status=Competition.Status.JUDGING
    ).count()


def max_in_flight() -> int:
    """COMPETITION_MAX_RUNS_IN_FLIGHT, and at most half the turn slots of the live workers
    (the ops board's registry), at least one: judging runs queue with chat turns, first in
    first out, so more of them than free slots would make every chat turn wait behind them
    (bench/competition.py). With no worker registered (none started yet) the setting alone."""
    capacity = Worker.objects.live().aggregate(total=Sum("capacity"))["total"] or 0
    cap = settings.COMPETITION_MAX_RUNS_IN_FLIGHT
    return min(cap, max(1, capacity // 2)) if capacity else cap


def evaluations_start() -> int:
    room = max_in_flight() - _in_flight()
    if room <= 0:
        return 0
    pending = Evaluation.objects.filter(
        status=Evaluation.Status.PENDING, competition__status=Competition.Status.JUDGING
    ).values_list("pk", flat=True)[:room]
    started = 0
    for evaluation_id in list(pending):
        with transaction.atomic():
            now = timezone.now()
            # started_at is the first start: a re-run after a worker crash keeps it, so
            # the task's time limit covers every attempt (step 3).
            claimed = Evaluation.objects.filter(
                pk=evaluation_id, status=Evaluation.Status.PENDING
            ).update(
                status=Evaluation.Status.RUNNING, started_at=Coalesce(F("started_at"), Value(now))
            )
            if not claimed:
                continue  # another worker has it
            evaluation = Evaluation.objects.select_related(
                "entry__agent", "entry__owner", "task"
            ).get(pk=evaluation_id)
            entry = evaluation.entry
            try:
                if entry.agent is None:
                    raise DomainError("The agent was deleted.")
                with transaction.atomic():
                    run = run_start(
                        agent=entry.agent, user=entry.owner, message=evaluation.task.prompt
                    )
            except DomainError:
                # A stopped, deleted or sold agent fails its tasks (docs/API.md).
                Evaluation.objects.filter(pk=evaluation_id).update(
                    status=Evaluation.Status.FAILED, graded_at=now
                )
                continue
            Evaluation.objects.filter(pk=evaluation_id).update(run=run)
            started += 1
    return started


def _worker_lost(run: Run | None) -> bool:
    return (
        run is not None and run.status == Run.Status.FAILED and run.error == Run.WORKER_LOST_ERROR
    )


def evaluations_grade() -> int:
    graded = 0
    limit = timezone.now() - timedelta(seconds=settings.COMPETITION_TASK_SECONDS)
    running = Evaluation.objects.filter(
        status=Evaluation.Status.RUNNING, competition__status=Competition.Status.JUDGING
    ).select_related("run", "task")
    for evaluation in running:
        run = evaluation.run
        in_time = not (evaluation.started_at and evaluation.started_at < limit)
        if run is not None and not run.is_final:
            if in_time:
                continue
            run_finish(run=run, status=Run.Status.TIMED_OUT, error="Competition task time limit.")
            run.refresh_from_db()
        if _worker_lost(run) and in_time:
            # Its worker died (docs/API.md "Competitions"): run the task again, ungraded.
            Evaluation.objects.filter(
                pk=evaluation.pk, status=Evaluation.Status.RUNNING, run=run
            ).update(status=Evaluation.Status.PENDING, run=None)
            continue
        passed = (
            run is not None
            and run.status == Run.Status.SUCCEEDED
            and grade(evaluation.task.grader, run.output, evaluation.task.expected)
        )
        status = Evaluation.Status.PASSED if passed else Evaluation.Status.FAILED
        graded += Evaluation.objects.filter(
            pk=evaluation.pk, status=Evaluation.Status.RUNNING
        ).update(
            status=status,
            duration_ms=(run.duration_ms or 0) if run is not None else 0,
            graded_at=timezone.now(),
        )
    return graded


def competitions_settle_ready() -> int:
    judging = Competition.objects.filter(status=Competition.Status.JUDGING).exclude(
        evaluations__status__in=[Evaluation.Status.PENDING, Evaluation.Status.RUNNING]
    )
    settled = 0
    for competition_id in list(judging.values_list("pk", flat=True)):
        try:
            settled += services.competition_settle(competition_id=competition_id)
        except Exception:
            logger.exception("Settling competition %s failed; retried next tick", competition_id)
    return settled
