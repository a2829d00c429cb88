"""The Agentbay task worker: django-tasks-db's worker, holding many turns at once.

`db_worker` runs one task at a time and sleeps a second between polls; a chat turn mostly
waits on the model, so this worker claims tasks while it has free threads (each with its
own database connection, each turn in its own sandbox child) and polls every
`--interval` seconds only when idle. Claiming is django-tasks-db's own
(`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of workers can run.
"""

import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.db.utils import OperationalError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

logger = logging.getLogger("agents.worker")


class ConcurrentWorker(Worker):
    def __init__(self, *, concurrency: int, **kwargs):
        super().__init__(**kwargs)
        self.concurrency = concurrency
        self.slots = threading.BoundedSemaphore(concurrency)

    def shutdown(self, signum, frame) -> None:
        if not self.running:
            logger.warning("Second %s: exiting now.", signal.strsignal(signum))
            os._exit(1)
        logger.warning(
            "%s: finishing turns in flight (again to force)...", signal.strsignal(signum)
        )
        self.running = False

    def claim(self) -> DBTaskResult | None:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        with exclusive_transaction(tasks.db):
            try:
                task_result = tasks.get_locked()
            except OperationalError as exc:
                if is_locked_database_exception(exc):
                    return None
                raise
            if task_result is not None:
                task_result.claim(self.worker_id)
            return task_result

    def run(self) -> None:
        from agents.runtime.engine import MONITOR, get_pool
        from agents.runtime.sandbox import harden_worker_process
        from agents.services import runs_reap

        harden_worker_process()
        get_pool()  # start the sandbox children now, not on the first turn
        runs_reap()  # turns a previous, crashed worker left behind
        MONITOR.reaping = True
        logger.info(
            "Worker %s: %d turns at once, polling every %ss",
            self.worker_id,
            self.concurrency,
            self.interval,
        )
        threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="turn")
        while self.running:
            if not self.slots.acquire(timeout=self.interval):
                continue  # every thread busy
            close_old_connections()
            try:
                task_result = self.claim()
            except Exception:
                self.slots.release()
                logger.exception("Claiming a task failed; retrying")
                time.sleep(self.interval)
                continue
            if task_result is None:
                self.slots.release()
                time.sleep(self.interval)
                continue
            threads.submit(self._run_in_thread, task_result)
        MONITOR.reaping = False
        threads.shutdown(wait=True)
        connection.close()

    def _run_in_thread(self, task_result: DBTaskResult) -> None:
        try:
            self.run_task(task_result)
        finally:
            connection.close()
            self.slots.release()


class Command(BaseCommand):
    help = "Run the Agentbay task worker (many chat turns at once per process)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.WORKER_CONCURRENCY,
            help="Turns executed at once by this process (threads).",
        )
        parser.add_argument("--interval", type=float, default=0.05, help="Idle poll interval (s).")
        parser.add_argument("--queue-name", default="default")
        parser.add_argument("--worker-id", default=f"{socket.gethostname()}:{os.getpid()}"[:64])

    def handle(self, *, concurrency, interval, queue_name, worker_id, **options) -> None:
        logging.getLogger("django_tasks_db").setLevel(logging.WARNING)
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
