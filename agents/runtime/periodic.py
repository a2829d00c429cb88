"""Periodic jobs of the worker: time-driven work that waits for no request.

Apps register a job in their AppConfig.ready (``register("auctions_settle", func,
every_seconds=2)``); agents knows nothing about them (docs/DESIGN.md, Layers and
Time-driven work). Every ``run_worker`` process runs one ``Ticker`` thread that calls each
job at its interval. Any number of workers tick at once, so a job must be safe to run
concurrently with itself (conditional updates, row locks, SKIP LOCKED claims) and must
not assume it runs anywhere in particular. A job that raises is logged and called again
at its next tick; the thread closes its database connection after each round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

logger = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    func: Callable[[], object]
    every_seconds: float


_jobs: dict[str, Job] = {}


def register(name: str, func: Callable[[], object], *, every_seconds: float) -> None:
    """Run `func()` in every worker every `every_seconds` (registering a name again
    replaces its job)."""
    if every_seconds <= 0:
        raise ValueError("every_seconds must be positive")
    _jobs[name] = Job(name, func, every_seconds)


def jobs() -> list[Job]:
    return list(_jobs.values())


class Ticker:
    """The thread that runs the registered jobs on their clocks."""

    def __init__(self, job_list: list[Job] | None = None) -> None:
        self.jobs = jobs() if job_list is None else job_list
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.next_run: dict[str, float] = {}

    def start(self) -> None:
        if not self.jobs:
            return
        self.thread = threading.Thread(target=self._loop, name="periodic-jobs", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def tick(self) -> float:
        """Run the jobs that are due; the seconds until the next one is."""
        now = time.monotonic()
        for job in self.jobs:
            if self.next_run.get(job.name, 0.0) > now:
                continue
            try:
                job.func()
            except Exception:
                logger.exception("Periodic job %s failed; it runs again at its next tick", job.name)
            self.next_run[job.name] = time.monotonic() + job.every_seconds
        return max(0.05, min(self.next_run.values()) - time.monotonic())

    def _loop(self) -> None:
        while not self.stopped.is_set():
            try:
                wait = self.tick()
            finally:
                connection.close()
            self.stopped.wait(wait)
