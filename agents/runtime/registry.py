"""The worker registry: each `run_worker` process keeps a row (`agents.models.Worker`) saying
it is alive, how many turns it holds and how its sandbox is set up; the ops board reads them.

The reaper thread (`reaper.py`) already wakes every AGENT_REAP_INTERVAL_SECONDS in every
worker, turns in flight or not, so it carries the heartbeat: one upsert per tick. A clean
shutdown deletes the row; a killed worker's row stops moving and the board marks it stale
(`Worker.is_stale`), until `workers_prune` forgets it an hour later.
"""

from __future__ import annotations

from typing import Any, Protocol


class RegisteredWorker(Protocol):
    """What the registry reads from run_worker's ConcurrentWorker."""

    worker_id: str
    concurrency: int
    busy: int


def pool_state() -> dict[str, Any]:
    """This process's warm sandbox pool, once started (empty before)."""
    from .turn import started_pool

    pool = started_pool()
    if pool is None:
        return {}
    return {
        "size": pool.size,
        "ready": pool.ready_count(),
        "cold_starts": pool.cold_starts,
        "warm_hits": pool.warm_hits,
    }


class Registration:
    """One worker's row: `beat()` each reaper tick, `leave()` on a clean shutdown."""

    def __init__(self, worker: RegisteredWorker) -> None:
        from django.utils import timezone

        self.worker = worker
        self.started_at = timezone.now()
        self._isolation: dict[str, Any] | None = None

    def beat(self) -> None:
        from ..services import worker_heartbeat

        if self._isolation is None:
            from .sandbox import isolation_state

            # Fixed for the life of the process: the worker probed it when it hardened itself.
            self._isolation = isolation_state()
        worker_heartbeat(
            name=self.worker.worker_id,
            started_at=self.started_at,
            capacity=self.worker.concurrency,
            in_flight=self.worker.busy,
            isolation=self._isolation,
            pool=pool_state(),
        )

    def leave(self) -> None:
        from ..services import worker_deregister

        worker_deregister(name=self.worker.worker_id)
