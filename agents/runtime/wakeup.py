"""Waking idle workers the moment a turn is queued (PostgreSQL LISTEN/NOTIFY).

An idle worker polls the task table; the poll interval is the queueing delay a turn pays,
and each poll is a query. On PostgreSQL, whoever queues a task sends `NOTIFY` on CHANNEL
after the task row is committed, and every worker keeps one connection `LISTEN`ing: a
notification wakes its claim loop at once, so the poll can be slow (a fallback for a lost
notification or a listener reconnecting). SQLite has no such channel: workers keep polling.
"""

from __future__ import annotations

import logging
import threading

from django.db import connections

logger = logging.getLogger(__name__)

CHANNEL = "agentbay_tasks"


def supported(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def announce(using: str = "default") -> None:
    """Tell listening workers that a task is ready. Call once its row is committed (NOTIFY
    inside a transaction would only be delivered at its commit anyway)."""
    if not supported(using):
        return
    try:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
    except Exception:
        # Waking is an optimisation: the workers' poll picks the task up regardless.
        logger.warning("Could not notify workers of a queued task", exc_info=True)


class Listener(threading.Thread):
    """One dedicated connection per worker process, LISTENing on CHANNEL; every notification
    sets `event`. Reconnects after errors; `stop()` ends it within a second."""

    def __init__(self, event: threading.Event, using: str = "default") -> None:
        super().__init__(name="agents-wakeup", daemon=True)
        self.event = event
        self.using = using
        self.listening = threading.Event()
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._listen()
            except Exception:
                self.listening.clear()
                logger.warning("Task notifications lost; reconnecting", exc_info=True)
                self.event.set()  # a task may have been queued meanwhile: poll once
                self._stopped.wait(1.0)

    def _listen(self) -> None:
        # Not Django's thread-local connection: a raw one that only ever LISTENs, opened
        # directly, never taken from the connection pool (it is held for good).
        wrapper = connections.create_connection(self.using)
        conn = wrapper.Database.connect(**wrapper.get_connection_params())
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            while not self._stopped.is_set():
                for _notify in conn.notifies(timeout=1.0):
                    self.event.set()
        finally:
            conn.close()
