"""The worker registry: each `run_worker` process keeps a row (`agents.models.Worker`) saying
it is alive, how many turns it holds and how its sandbox is set up; the ops board reads them.

The reaper thread (`reaper.py`) already wakes every AGENT_REAP_INTERVAL_SECONDS in every
worker, turns in flight or not, so it carries the heartbeat: one upsert per tick. A clean
shutdown deletes the row; a killed worker's row stops moving and the board marks it stale
(`Worker.is_stale`), until `workers_prune` forgets it an hour later.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class RegisteredWorker(Protocol):
    """What the registry reads from run_worker's ConcurrentWorker."""

    worker_id: str
    concurrency: int
    busy: int


def isolation() -> dict[str, Any]:
    """How this process's sandbox children are isolated, as the sandbox reports it
    (`agents.runtime.sandbox.isolation_state()`: mode isolated / shared-uid...). A sandbox
    without that report yields {"mode": "unknown"}; a failing one its error."""
    from . import sandbox

    state = getattr(sandbox, "isolation_state", None)
    if not callable(state):
        return {"mode": "unknown"}
    try:
        report = state()
    except Exception as exc:
        logger.debug("isolation_state() failed", exc_info=True)
        return {"mode": "unknown", "error": str(exc)[:200]}
    if not isinstance(report, dict):
        return {"mode": str(report)}
    return _json_safe(report)


def pool_state() -> dict[str, Any]:
    """The warm sandbox pool of this process, if it has started one (empty otherwise)."""
    from . import turn

    pool = getattr(turn, "_pool", None)
    if pool is None:
        return {}
    state: dict[str, Any] = {}
    for key in ("size", "cold_starts", "warm_hits"):
        value = getattr(pool, key, None)
        if isinstance(value, int):
            state[key] = value
    ready = getattr(pool, "ready_count", None)
    if callable(ready):
        try:
            state["ready"] = int(ready())
        except Exception:
            logger.debug("pool.ready_count() failed", exc_info=True)
    return state


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


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
            # Fixed for the life of the process: the worker hardened itself at start.
            self._isolation = isolation()
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
