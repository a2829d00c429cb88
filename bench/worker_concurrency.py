"""How many slow turns one worker process holds at once (docs/DESIGN.md "Workers").

Sends N chat turns at once to one `manage.py run_worker` process; each turn's model call
takes S seconds (the local fake server's `slow-S` scenario). Prints the wall time for all
of them, the queueing delay (created → started) and the worker's RSS before and after.

    .venv/bin/python bench/worker_concurrency.py [--turns 50] [--seconds 3]
"""

import argparse
import statistics
import time

from harness import percentile, platform, rss_kib, running_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    seconds = f"{args.seconds:g}"

    with platform(worker_args=("--concurrency", str(args.concurrency))) as (_env, workers):
        from agents import services
        from agents.models import Run

        user, agent = running_agent(f"slow-{seconds}")
        rss_before = rss_kib(workers[0].pid)
        started = time.perf_counter()
        runs = [
            services.run_start(agent=agent, user=user, message=f"turn {n}")
            for n in range(args.turns)
        ]
        ids = [run.pk for run in runs]
        while Run.objects.filter(pk__in=ids).in_flight().exists():
            time.sleep(0.05)
        wall = time.perf_counter() - started
        rss_after = rss_kib(workers[0].pid)
        finished = list(Run.objects.filter(pk__in=ids))

    statuses = {run.status for run in finished}
    queued = [(run.started_at - run.created_at).total_seconds() * 1000 for run in finished]
    print(f"turns     {args.turns} × {seconds} s model calls, statuses {sorted(statuses)}")
    print(f"wall      {wall:.2f} s for all (serial would be {args.turns * args.seconds:.0f} s)")
    print(
        f"queueing  p50={statistics.median(queued):.0f} ms  p95={percentile(queued, 0.95):.0f} ms"
    )
    print(f"worker    RSS {rss_before / 1024:.0f} MiB → {rss_after / 1024:.0f} MiB")
    print(
        f"worker_concurrency turns={args.turns} wall_s={wall:.2f} "
        f"queue_p95_ms={percentile(queued, 0.95):.0f} rss_mib={rss_after / 1024:.0f}"
    )


if __name__ == "__main__":
    main()
