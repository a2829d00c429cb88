"""The worker's reaper: fails the turns dead workers left behind, on its own clock.

A worker that dies (SIGKILL, out of memory, a lost host) leaves its runs `running` and their
task rows `RUNNING`, and nobody else finishes them. So every worker process runs this
thread: a tick at start-up, then one every ``AGENT_REAP_INTERVAL_SECONDS``, whether or not
it holds turns; a dead worker's runs end about a lease plus an interval after it died, with
no other traffic. It is a thread of its own, not the monitor's: a slow tick (many runs to
fail, a locked SQLite file) must not hold back heartbeats and stops, nor claims.

The work is ``agents.services.runs_reap`` (and, once a minute, ``turn_tasks_reap``'s sweep
for task rows left running behind runs that ended otherwise), whose conditional updates let
any number of workers tick at once.

Each tick is also the worker's heartbeat in the worker registry (``registry.py``, the ops
board): its row is refreshed first, in its own try, and deleted when the reaper stops.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

if TYPE_CHECKING:
    from .registry import RegisteredWorker

logger = logging.getLogger(__name__)


class Reaper:
    # The task-row sweep scans the task table on PostgreSQL (no index covers RUNNING rows):
    # about 30 ms per 200,000 rows, so once a minute, not every tick.
    SWEEP_EVERY = 60.0

    def __init__(self, worker: RegisteredWorker | None = None) -> None:
        from .registry import Registration

        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.last_sweep: float | None = None
        # The worker this reaper runs in, registered for the ops board (None: not listed).
        self.registration = Registration(worker) if worker is not None else None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, name="agents-reaper", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout)
        if self.registration is not None:
            try:
                self.registration.leave()
            except Exception:
                logger.warning("Could not remove this worker from the registry", exc_info=True)
            finally:
                connection.close()

    def beat(self) -> None:
        """Refresh this worker's registry row; never raises (a missed beat only ages it)."""
        if self.registration is None:
            return
        try:
            self.registration.beat()
        except Exception:
            logger.warning("Worker heartbeat failed; retrying in the next tick", exc_info=True)

    def tick(self) -> int:
        """Reap once; never raises (the database may be away: the next tick tries again)."""
        from ..services import runs_reap, turn_tasks_reap, workers_prune

        try:
            self.beat()
            reaped = runs_reap()
            now = time.monotonic()
            if self.last_sweep is None or now - self.last_sweep >= self.SWEEP_EVERY:
                turn_tasks_reap()
                workers_prune()
                self.last_sweep = now
            return reaped
        except Exception:
            logger.exception("Reaping abandoned runs failed; retrying in the next tick")
            return 0
        finally:
            # No connection held between ticks: on PostgreSQL it would take a slot of
            # max_connections per worker for a query every few seconds, on SQLite keep the
            # file open for nothing.
            try:
                connection.close()
            except Exception:
                logger.debug("closing the reaper's connection failed", exc_info=True)

    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.tick()
            self.stopped.wait(settings.AGENT_REAP_INTERVAL_SECONDS)
