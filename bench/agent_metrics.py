"""An agent's health metrics (GET /api/v1/agents/{id}/metrics) over many runs: the time and
the queries of monitoring.health.agent_metrics for each window, with `--runs` finished runs
(default 100,000) spread over the last 30 days for the measured agent, and as many again for
other agents in the same table.

Runs on a throwaway SQLite database unless DATABASE_URL is set; with a PostgreSQL URL it
creates (and drops afterwards) a scratch database next to the one named.

    .venv/bin/python bench/agent_metrics.py [--runs 100000] [--repeat 5]

Prints one line, e.g.
    runs=100000 db=sqlite queries=3 ms_1h=… ms_24h=… ms_7d=… ms_30d=…
(the median of `--repeat` calls per window).
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import scratch_database  # noqa: E402

STATUSES = ["succeeded"] * 85 + ["failed"] * 8 + ["timed_out"] * 2 + ["cancelled"] * 5


def seed(agent, others, count: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from agents.models import Conversation, Run

    rng = random.Random(14)
    now = timezone.now()
    span = timedelta(days=30).total_seconds()
    for owner_agent in [agent, *others]:
        n = count if owner_agent == agent else count // len(others)
        conversation = Conversation.objects.create(agent=owner_agent, user=owner_agent.owner)
        for start in range(0, n, 5000):
            Run.objects.bulk_create(
                Run(
                    conversation=conversation,
                    agent=owner_agent,
                    agent_name=owner_agent.name,
                    user=owner_agent.owner,
                    message="m",
                    status=rng.choice(STATUSES),
                    finished_at=now - timedelta(seconds=rng.random() * span),
                    duration_ms=int(rng.lognormvariate(8, 0.8)),
                    input_tokens=rng.randint(100, 2000),
                    output_tokens=rng.randint(10, 400),
                )
                for _ in range(start, min(n, start + 5000))
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE agents_run")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    url, drop = scratch_database("metrics")
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from agents.models import Agent
    from monitoring import health

    try:
        owner = User.objects.create(username="owner", password="!")
        agent = Agent.objects.create(owner=owner, name="Measured", model="openai:echo")
        others = [
            Agent.objects.create(owner=owner, name=f"Other {i}", model="openai:echo")
            for i in range(10)
        ]
        started = time.monotonic()
        seed(agent, others, args.runs)
        print(f"seeded in {time.monotonic() - started:.1f} s", file=sys.stderr)
        figures = {}
        queries = 0
        for window in health.WINDOWS:
            timings = []
            for _ in range(args.repeat):
                with CaptureQueriesContext(connection) as captured:
                    t0 = time.perf_counter()
                    metrics = health.agent_metrics(agent=agent, window=window)
                    timings.append((time.perf_counter() - t0) * 1000)
                queries = max(queries, len(captured))
            figures[window] = statistics.median(timings)
            print(
                f"window={window} runs={metrics.runs} p95_ms={metrics.latency_p95_ms}",
                file=sys.stderr,
            )
    finally:
        connection.close()
        drop()
    print(
        f"runs={args.runs} db={connection.vendor} queries={queries} "
        + " ".join(f"ms_{window}={ms:.0f}" for window, ms in figures.items())
    )


if __name__ == "__main__":
    main()
