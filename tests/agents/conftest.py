import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_llm(monkeypatch):
    """The local OpenAI-compatible server; agents use it with model 'openai:<scenario>'."""
    server = FakeOpenAIServer().start()
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    yield server
    server.stop()


@contextlib.contextmanager
def running_worker(*, concurrency: int = 8, interval: float = 0.05, worker_id="test-worker"):
    """The real worker loop (run_worker's ConcurrentWorker) in a thread of this process,
    stopped (its turns finished) on exit."""
    from agents.management.commands.run_worker import ConcurrentWorker

    worker = ConcurrentWorker(
        concurrency=concurrency,
        queue_names=["default"],
        interval=interval,
        batch=False,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.running = False
        worker.wakeup.set()  # out of an idle wait at once
        thread.join(timeout=30)


@pytest.fixture
def worker(transactional_db, fake_llm):
    with running_worker() as worker:
        yield worker


def database_url() -> str:
    """A DATABASE_URL for the test database, for worker subprocesses."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


@pytest.fixture
def worker_process(transactional_db, fake_llm):
    """Start real `manage.py run_worker` processes on the test database."""
    processes: list[subprocess.Popen] = []
    groups: dict[int, bool] = {}

    def start(*extra: str, env: dict | None = None, own_group: bool = False) -> subprocess.Popen:
        """own_group: in a process group of its own (with its sandbox fork server and
        children), so a test can SIGKILL all of it as a crash would (os.killpg)."""
        environ = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "SQLITE_TEST_NAME": "",
            "OPENAI_BASE_URL": fake_llm.base_url,
            "OPENAI_API_KEY": "test-key",
            **(env or {}),
        }
        environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--interval", "0.05", *extra],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=own_group,
        )
        processes.append(process)
        groups[process.pid] = own_group
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        if groups.get(process.pid):
            with contextlib.suppress(ProcessLookupError):  # what it left in its group
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(predicate, timeout: float = 20, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def wait_final(run_id: int, timeout: float = 20):
    from agents.models import Run

    return wait_for(lambda: (run := Run.objects.get(pk=run_id)).is_final and run, timeout=timeout)
