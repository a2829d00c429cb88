"""How many slow turns one worker process holds at once (docs/DESIGN.md "Workers").

Sends N chat turns at once to one `manage.py run_worker --concurrency C` process; each
turn's model call takes S seconds (the local fake server's `slow-S` scenario). Prints the
wall time for all of them, the queueing delay (created → started), the worker's RSS before
and after, and on PostgreSQL the peak number of connections to the database during the run
(polled from pg_stat_activity every 50 ms; the poller's own connection not counted; the bench
process's own, like a web process's, is).

    .venv/bin/python bench/worker_concurrency.py [--turns 50] [--seconds 3] [--concurrency 64]
    DATABASE_URL=postgres://… .venv/bin/python bench/worker_concurrency.py --turns 200 \\
        --concurrency 200
"""

import argparse
import collections
import statistics
import threading
import time

from harness import percentile, platform, rss_kib, running_agent


class ConnectionPeak(threading.Thread):
    """Polls the number of backends connected to the database, on a connection of its own."""

    def __init__(self) -> None:
        super().__init__(name="bench-connections", daemon=True)
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        from django.db import connections

        wrapper = connections.create_connection("default")
        with wrapper.Database.connect(**wrapper.get_connection_params()) as conn:
            conn.autocommit = True
            while not self.stopped.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
                self.peak = max(self.peak, count)
                self.stopped.wait(0.05)

    def stop(self) -> int:
        self.stopped.set()
        self.join(5)
        return self.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50, help="chat turns sent at once")
    parser.add_argument("--seconds", type=float, default=3, help="each model call's duration")
    parser.add_argument("--concurrency", type=int, default=64, help="the worker's --concurrency")
    parser.add_argument("--timeout", type=float, default=600, help="give up after (s)")
    args = parser.parse_args()
    seconds = f"{args.seconds:g}"

    with platform(worker_args=("--concurrency", str(args.concurrency))) as (_env, workers):
        from django.db import connection

        from agents import services
        from agents.models import Run

        user, agent = running_agent(f"slow-{seconds}")
        poller = ConnectionPeak() if connection.vendor == "postgresql" else None
        if poller is not None:
            poller.start()
        rss_before = rss_kib(workers[0].pid)
        started = time.perf_counter()
        runs = [
            services.run_start(agent=agent, user=user, message=f"turn {n}")
            for n in range(args.turns)
        ]
        ids = [run.pk for run in runs]
        deadline = time.monotonic() + args.timeout
        while Run.objects.filter(pk__in=ids).in_flight().exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        wall = time.perf_counter() - started
        rss_after = rss_kib(workers[0].pid)
        peak = str(poller.stop()) if poller is not None else "n/a"
        finished = list(Run.objects.filter(pk__in=ids))

    statuses = collections.Counter(run.status for run in finished)
    queued = [
        (run.started_at - run.created_at).total_seconds() * 1000
        for run in finished
        if run.started_at is not None
    ] or [float("nan")]
    p50, p95 = statistics.median(queued), percentile(queued, 0.95)
    print(f"turns     {args.turns} × {seconds} s model calls, statuses {dict(statuses)}")
    print(f"wall      {wall:.2f} s for all (serial would be {args.turns * args.seconds:.0f} s)")
    print(f"queueing  p50={p50:.0f} ms  p95={p95:.0f} ms (turns that started)")
    print(f"worker    RSS {rss_before / 1024:.0f} MiB → {rss_after / 1024:.0f} MiB")
    print(f"database  peak connections {peak}")
    print(
        f"worker_concurrency turns={args.turns} wall_s={wall:.2f} queue_p50_ms={p50:.0f} "
        f"queue_p95_ms={p95:.0f} rss_mib={rss_after / 1024:.0f} peak_db_connections={peak}"
    )


if __name__ == "__main__":
    main()
