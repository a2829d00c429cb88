"""The Agentbay task worker: django-tasks-db's worker, holding many turns at once.

`db_worker` runs one task at a time and sleeps a second between polls; a chat turn mostly
waits on the model, so this worker claims tasks while it has free threads (each turn in its
own sandbox child) and polls every `--interval` seconds only when idle. On PostgreSQL a turn
holds a database connection only while it writes (`turn.release_connection`): the threads
share the process's connection pool (DB_POOL_MAX_SIZE), so hundreds of turns in flight need
a few connections (the claim loop's, the monitor's, the reaper's, those of the turns writing
at that moment), plus the LISTEN one outside the pool. Claiming is django-tasks-db's own
(`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of workers can run. Each
also runs a reaper thread (`agents.runtime.reaper`) that fails what dead workers left.
"""

import logging
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.db.utils import OperationalError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

logger = logging.getLogger("agents.worker")

# After a claim the database refused (locked) or that failed: the wake-up was spent on it.
RETRY_SECONDS = 0.05


class ConcurrentWorker(Worker):
    def __init__(self, *, concurrency: int, **kwargs):
        super().__init__(**kwargs)
        self.concurrency = concurrency
        self.busy = 0  # turns executing now
        self.idle = threading.Condition()
        # Set by a wake-up (agents.runtime.wakeup): a turn was queued, claim now.
        self.wakeup = threading.Event()
        self.listener: threading.Thread | None = None  # what sets it, once running

    def shutdown(self, signum, frame) -> None:
        if not self.running:
            logger.warning("Second %s: exiting now.", signal.strsignal(signum))
            os._exit(1)
        logger.warning(
            "%s: finishing turns in flight (again to force)...", signal.strsignal(signum)
        )
        self.running = False

    def claim(self, limit: int) -> list[DBTaskResult] | None:
        """Claim up to `limit` ready tasks in one transaction: a burst of turns is picked up
        in one round trip instead of one poll per turn. None: tasks are ready but the
        database was locked (SQLite's writers take turns), so try again soon."""
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        # A plain read first: an idle poll then takes no lock (on SQLite the claim's
        # transaction takes the database's write lock), so polling often stays cheap.
        if not tasks.exists():
            return []
        try:
            with exclusive_transaction(tasks.db):
                claimed = list(tasks.select_for_update(skip_locked=True)[:limit])
                for task_result in claimed:
                    task_result.claim(self.worker_id)
                return claimed
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def run(self) -> None:
        from agents.runtime import periodic, wakeup
        from agents.runtime.reaper import Reaper
        from agents.runtime.sandbox import harden_worker_process

        harden_worker_process()
        # At once (turns a previous, crashed worker left behind), then on its own clock,
        # with or without turns in flight: no new turn has to arrive for the dead to be reaped.
        reaper = Reaper(worker=self)  # also this worker's heartbeat on the ops board
        reaper.start()
        ticker = periodic.Ticker()  # the apps' time-driven jobs (auctions ending...)
        ticker.start()
        self.listener = listener = wakeup.listener(self.wakeup)
        if listener is not None:
            listener.start()
        try:
            self._claim_loop()
        finally:
            reaper.stop()
            ticker.stop()
            if listener is not None:
                listener.stop()
            connection.close()

    def _claim_loop(self) -> None:
        from agents.runtime.sandbox import sweep_stale_workdirs
        from agents.runtime.turn import get_pool

        if swept := sweep_stale_workdirs():
            logger.info("Removed %d sandbox work dirs left by stopped workers", swept)
        get_pool()  # start the sandbox children now, not on the first turn
        pool = connection.settings_dict["OPTIONS"].get("pool")
        logger.info(
            "Worker %s: %d turns at once, polling every %ss, %s",
            self.worker_id,
            self.concurrency,
            self.interval,
            f"database connections pooled (at most {pool['max_size']})"
            if isinstance(pool, dict)
            else "no database connection pool",
        )
        threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="turn")
        while self.running:
            with self.idle:
                if self.busy >= self.concurrency:
                    self.idle.wait(self.interval)  # every thread busy
                    continue
                free = self.concurrency - self.busy
            # Cleared before claiming: a task queued from now on sets it again, so the wait
            # below cannot sleep through it.
            self.wakeup.clear()
            try:
                claimed = self.claim(free)
            except Exception:
                logger.exception("Claiming tasks failed; retrying")
                # A broken connection is replaced on the next claim; a healthy one stays
                # open between polls (reconnecting on every poll cost more than the poll).
                close_old_connections()
                claimed = None
            if claimed is None:  # a task is (or may be) ready: not a whole poll interval
                self.wakeup.wait(min(self.interval, RETRY_SECONDS))
                continue
            if not claimed:
                self.wakeup.wait(self.interval)
                continue
            with self.idle:
                self.busy += len(claimed)
            for task_result in claimed:
                threads.submit(self._run_in_thread, task_result)
        threads.shutdown(wait=True)

    def _run_in_thread(self, task_result: DBTaskResult) -> None:
        try:
            self.run_task(task_result)
        finally:
            connection.close()
            with self.idle:
                self.busy -= 1
                self.idle.notify()


class Command(BaseCommand):
    help = "Run the Agentbay task worker (many chat turns at once per process)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.WORKER_CONCURRENCY,
            help="Turns executed at once by this process (threads).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Idle poll interval (s); default 1, a fallback: a queued turn wakes the "
            "worker at once (PostgreSQL LISTEN/NOTIFY, a Unix socket on SQLite), else 0.05.",
        )
        parser.add_argument("--queue-name", default="default")
        parser.add_argument("--worker-id", default=f"{socket.gethostname()}:{os.getpid()}"[:64])

    def handle(self, *, concurrency, interval, queue_name, worker_id, **options) -> None:
        from agents.runtime import wakeup

        logging.getLogger("django_tasks_db").setLevel(logging.WARNING)
        if interval is None:
            interval = 1.0 if wakeup.supported() else 0.05
        worker = ConcurrentWorker(
            concurrency=max(1, concurrency),
            queue_names=queue_name.split(","),
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        worker.configure_signals()
        worker.run()
