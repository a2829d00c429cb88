"""The worker's run monitor: one thread per worker process watching every turn in flight.

It keeps the leases (heartbeats) of the turns this process executes fresh, and stops a turn
(through its ``TurnControl``: the child is killed, the agent interrupted) when the run was
finalised from outside — cancelled by a user, stopped with its agent, deleted — or when it
passed its wall clock. The database is the source of truth: whoever finalises a run first
wins. Runs that dead workers left behind are another thread's job (``reaper.py``).
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from .control import StopReason, TurnControl

logger = logging.getLogger(__name__)


def timeout_message() -> str:
    return f"The turn took longer than {settings.AGENT_RUN_TIMEOUT_SECONDS} s and was stopped."


class Monitor:
    """One thread per worker process, while it holds turns: heartbeats, cancellation,
    timeouts."""

    TICK = 0.25
    HEARTBEAT_EVERY = 2.0

    def __init__(self) -> None:
        self.controls: dict[int, TurnControl] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def watch(self, run_id: int) -> TurnControl:
        """Start watching a turn: its control, whose wall clock starts now."""
        control = TurnControl.starting_now(settings.AGENT_RUN_TIMEOUT_SECONDS)
        with self.lock:
            self.controls[run_id] = control
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._loop, name="agents-monitor", daemon=True
                )
                self.thread.start()
        return control

    def unwatch(self, run_id: int) -> None:
        with self.lock:
            self.controls.pop(run_id, None)

    def in_flight(self) -> int:
        with self.lock:
            return len(self.controls)

    def _loop(self) -> None:
        last_beat = 0.0
        while True:
            time.sleep(self.TICK)
            try:
                last_beat = self._tick(last_beat)
            except Exception:
                logger.exception("agents monitor tick failed")
                try:
                    close_old_connections()
                except Exception:  # the database is away; try again next tick
                    logger.debug("closing connections failed", exc_info=True)
            with self.lock:
                if not self.controls:
                    # Nothing to watch: end the thread and its connection; the next
                    # watch() starts a new one.
                    self.thread = None
                    connection.close()
                    return

    def _tick(self, last_beat: float) -> float:
        from ..models import Run
        from ..services import run_finish, runs_heartbeat

        with self.lock:
            controls = dict(self.controls)
        now = time.monotonic()
        if controls:
            statuses = dict(Run.objects.filter(pk__in=list(controls)).values_list("pk", "status"))
            for run_id, control in controls.items():
                status = statuses.get(run_id)
                if status is None:
                    control.stop(StopReason.DELETED, "run is deleted")
                elif status != Run.Status.RUNNING:
                    control.stop(StopReason.CANCELLED, f"run is {status}")
                elif control.must_stop() == StopReason.DEADLINE:
                    # The turn's thread may be stuck in a model call: record the timeout now.
                    run_finish(
                        run=Run(pk=run_id), status=Run.Status.TIMED_OUT, error=timeout_message()
                    )
            # Several beats per lease, so one late beat (a busy database) is not a death
            # sentence from the reapers (tests run with leases of a few seconds).
            every = min(self.HEARTBEAT_EVERY, settings.AGENT_RUN_LEASE_SECONDS / 3)
            if now - last_beat >= every:
                runs_heartbeat(run_ids=list(controls))
                last_beat = now
        return last_beat


MONITOR = Monitor()
