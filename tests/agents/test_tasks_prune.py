"""The task queue's table does not grow forever: finished rows older than
TASK_RETENTION_DAYS are deleted by a periodic job of every worker."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from agents import services
from agents.runtime import periodic
from agents.tasks import execute_run

pytestmark = pytest.mark.django_db


def task_row(status, finished_days_ago=None):
    result = execute_run.enqueue(run_id=1)
    finished = (
        timezone.now() - timedelta(days=finished_days_ago)
        if finished_days_ago is not None
        else None
    )
    DBTaskResult.objects.filter(pk=result.id).update(status=status, finished_at=finished)
    return result.id


def test_finished_rows_older_than_the_retention_go(settings):
    settings.TASK_RETENTION_DAYS = 7
    old_done = task_row(TaskResultStatus.SUCCESSFUL, 8)
    old_failed = task_row(TaskResultStatus.FAILED, 30)
    recent = task_row(TaskResultStatus.SUCCESSFUL, 6)
    queued = task_row(TaskResultStatus.READY)
    running = task_row(TaskResultStatus.RUNNING)

    assert services.tasks_prune() == 2

    left = {str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)}
    assert {old_done, old_failed}.isdisjoint(left)
    assert {recent, queued, running} <= left
    assert services.tasks_prune() == 0


def test_a_batch_at_a_time(settings, monkeypatch):
    settings.TASK_RETENTION_DAYS = 1
    monkeypatch.setattr(services, "TASK_PRUNE_BATCH", 2)
    for _ in range(3):
        task_row(TaskResultStatus.SUCCESSFUL, 2)

    assert services.tasks_prune() == 2
    assert services.tasks_prune() == 1


def test_every_worker_runs_it():
    assert "tasks_prune" in {job.name for job in periodic.jobs()}
