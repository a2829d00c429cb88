"""Shared set-up for the agents benchmarks: a throwaway database, the local fake
OpenAI-compatible server, Django in this process and `manage.py run_worker` processes."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def scratch_database(suffix: str) -> tuple[str, Callable[[], None]]:
    """A DATABASE_URL for a fresh database, and a function that removes it: a temporary
    SQLite file, or with a PostgreSQL DATABASE_URL a database `<name>_<suffix>` beside the
    one named (dropped and made anew), so real data is never touched."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        tmp = tempfile.mkdtemp(prefix="agentbay-bench-")
        return f"sqlite:///{tmp}/bench.sqlite3", lambda: None
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "agentbay") + f"_{suffix}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(parts._replace(path=f"/{name}")), drop


def bench_listings(agents, *, first: int = 0) -> list:
    """One listing per agent, by its owner: sales and 7-day rentals alternating (odd
    positions, counted from `first`, rent), priced 1–500 credits. The marketplace benches'
    listings."""
    from decimal import Decimal

    from marketplace.models import Listing

    return Listing.objects.bulk_create(
        Listing(
            agent=agent,
            agent_name=agent.name,
            seller=agent.owner,
            listing_type="rent" if i % 2 else "sale",
            rental_days=7 if i % 2 else None,
            price=Decimal(1 + i % 500),
        )
        for i, agent in enumerate(agents, start=first)
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.contextmanager
def platform(*, workers: int = 1, worker_args: tuple[str, ...] = (), llm=None):
    """Yield (env, worker processes) with Django set up on a fresh database. `llm`: a
    started FakeOpenAIServer to use (and read its requests afterwards), else one of its own."""
    tmp = tempfile.mkdtemp(prefix="agentbay-bench-")
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3"),
        # As in production (DEBUG=1 records every query, in the worker too); plain HTTP, as
        # Django's test client speaks it here.
        "DEBUG": "0",
        "SECRET_KEY": "bench-not-secret-" + "0123456789abcdef" * 3,
        "SECURE_SSL_REDIRECT": "0",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    from tests.fake_openai import FakeOpenAIServer

    own_llm = llm is None
    if own_llm:
        llm = FakeOpenAIServer().start()
    env.update({"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "bench"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", *worker_args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(2)  # let the workers start their sandbox fork servers
        yield env, processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        if own_llm:
            llm.stop()


def running_agent(model: str, name: str = "Bench"):
    """A user and a started agent on `openai:<model>` (the fake server's scenario)."""
    from accounts.models import User
    from agents import services
    from agents.validation import AgentConfig

    user, _ = User.objects.get_or_create(username=f"bench-{os.getpid()}")
    agent = services.agent_create(
        owner=user, config=AgentConfig(name=name, model=f"openai:{model}")
    )
    return user, services.agent_start(agent=agent, by=user)


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its threads (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
