"""The ops board's figures (docs/API.md, Monitoring: `GET /api/v1/ops`, the page `/ops/`).

Read from the database, which every web and worker process shares: the queue and the last
hour from the runs (two aggregate queries), the workers from the registry each worker's
reaper thread keeps fresh (`agents.models.Worker`, agents/runtime/registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from agents.models import Run, Worker

FINAL_STATUSES = (
    Run.Status.SUCCEEDED,
    Run.Status.FAILED,
    Run.Status.CANCELLED,
    Run.Status.TIMED_OUT,
)


@dataclass
class OpsSnapshot:
    queued: int
    running: int
    oldest_queued_seconds: float
    workers: list[Worker]
    runs_last_hour: dict[str, int]
    reaped_last_hour: int
    at: datetime

    def as_contract(self) -> dict[str, Any]:
        """Exactly the fields of docs/API.md (`GET /api/v1/ops`)."""
        return {
            "queued": self.queued,
            "running": self.running,
            "oldest_queued_seconds": self.oldest_queued_seconds,
            "workers": [
                {
                    "name": worker.name,
                    "last_seen": worker.last_seen,
                    "in_flight": worker.in_flight,
                    "capacity": worker.capacity,
                }
                for worker in self.workers
            ],
            "runs_last_hour": self.runs_last_hour,
            "reaped_last_hour": self.reaped_last_hour,
        }

    @property
    def stale_workers(self) -> int:
        return sum(worker.is_stale for worker in self.workers)


def ops_snapshot() -> OpsSnapshot:
    now = timezone.now()
    queue = Run.objects.in_flight().aggregate(
        queued=Count("pk", filter=Q(status=Run.Status.QUEUED)),
        running=Count("pk", filter=Q(status=Run.Status.RUNNING)),
        oldest=Min("created_at", filter=Q(status=Run.Status.QUEUED)),
    )
    hour = Run.objects.filter(finished_at__gte=now - timedelta(hours=1)).aggregate(
        **{status.value: Count("pk", filter=Q(status=status)) for status in FINAL_STATUSES},
        # Run.objects.worker_lost(), as a filter of this one aggregate.
        reaped=Count("pk", filter=Q(status=Run.Status.FAILED, error=Run.WORKER_LOST_ERROR)),
    )
    oldest = queue["oldest"]
    return OpsSnapshot(
        queued=queue["queued"],
        running=queue["running"],
        # 0 when nothing waits: a graph of it stays continuous.
        oldest_queued_seconds=round(max(0.0, (now - oldest).total_seconds()), 3) if oldest else 0.0,
        workers=list(Worker.objects.order_by("name")),
        runs_last_hour={status.value: hour[status.value] for status in FINAL_STATUSES},
        reaped_last_hour=hour["reaped"],
        at=now,
    )
