"""``TurnControl``: the one owner of a turn's wall clock and of whether the turn must stop.

Three parties watch a turn in flight: the monitor thread (it polls the database for runs
finalised from outside and keeps an eye on the clock), the turn's own thread (it streams the
agent's steps and records the outcome) and the sandbox executor (it bounds every code action by
the time left). They all ask this object; none of them keeps a deadline of its own. The first
stop wins, and its reason is the one the turn reports. No Django here: the executor uses it too.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class StopReason(enum.StrEnum):
    """Why a turn stopped; the executor's messages show the value ("Run stopped (cancelled)")."""

    # The turn's wall clock ran out: the run is timed out.
    DEADLINE = "deadline"
    # The run was finalised from outside (cancelled by its user, stopped with its agent,
    # reaped), or the executor was cancelled: that outcome stands.
    CANCELLED = "cancelled"
    # The run is gone (deleted with its agent or conversation): nothing is left to record.
    DELETED = "deleted"


class TurnControl:
    """A turn's deadline (a ``time.monotonic()`` value, or None for no wall clock) and, once
    it must stop, why. Thread-safe: ``stop()`` may come from any thread."""

    def __init__(self, deadline: float | None = None):
        self.deadline = deadline
        self.reason: StopReason | None = None
        self.detail = ""
        self._lock = threading.Lock()
        self._on_stop: list[Callable[[], None]] = []

    @classmethod
    def starting_now(cls, seconds: float) -> TurnControl:
        return cls(deadline=time.monotonic() + seconds)

    def remaining(self) -> float | None:
        """Seconds left on the wall clock (never negative); None without a deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def must_stop(self) -> StopReason | None:
        """Why the turn must stop, or None. A deadline that has passed stops the turn here, so
        whoever looks first (the monitor's tick, the executor, the turn at its end) stops it
        and everybody after sees the same reason."""
        if self.reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop(StopReason.DEADLINE, "the turn's wall clock is exhausted")
        return self.reason

    def stop(self, reason: StopReason, detail: str = "") -> bool:
        """Stop the turn; the first reason wins. Runs the ``on_stop`` callbacks once, in the
        calling thread. True when this call is the one that stopped it."""
        with self._lock:
            if self.reason is not None:
                return False
            self.reason, self.detail = reason, detail or str(reason)
            callbacks, self._on_stop = self._on_stop, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # one party failing to stop must not keep the others running
                logger.exception("turn stop callback failed")
        return True

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when the turn stops: at once if it already has."""
        with self._lock:
            if self.reason is None:
                self._on_stop.append(callback)
                return
        callback()
