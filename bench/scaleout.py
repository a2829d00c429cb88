"""Scale-out: the same burst of slow turns on 1, 2 and 4 worker processes sharing one
database. Prints, per process count, the wall time, the queueing delay (created → started),
how the turns split over the workers, and how many turns any model saw a first call for
more than once (a turn executed twice: must be 0).

Each worker claims with `SELECT … FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite serialises
the claim) and is woken by NOTIFY on PostgreSQL. Use PostgreSQL for meaningful figures:

    DATABASE_URL=postgres://… .venv/bin/python bench/scaleout.py [--turns 80] [--seconds 2]
"""

import argparse
import collections
import statistics
import time

from harness import percentile, platform, running_agent


def first_calls(requests: list[dict]) -> collections.Counter:
    """How many times the model saw each turn's message as a fresh task (call 0)."""
    from tests.fake_openai import _call_number, _tasks

    seen: collections.Counter = collections.Counter()
    for body in requests:
        messages = body.get("messages", [])
        tasks = _tasks(messages)
        if tasks and _call_number(messages) == 0:
            seen[tasks[-1]] += 1
    return seen


def phase(workers: int, turns: int, seconds: str, concurrency: int) -> dict:
    from tests.fake_openai import FakeOpenAIServer

    llm = FakeOpenAIServer().start()
    try:
        worker_args = ("--concurrency", str(concurrency))
        with platform(workers=workers, worker_args=worker_args, llm=llm):
            from agents import services
            from agents.models import Run

            user, agent = running_agent(f"slow-{seconds}", name=f"Scale {workers}")
            tag = f"w{workers}-{time.monotonic_ns()}"
            started = time.perf_counter()
            ids = [
                services.run_start(agent=agent, user=user, message=f"{tag} turn {n}").pk
                for n in range(turns)
            ]
            while Run.objects.filter(pk__in=ids).in_flight().exists():
                time.sleep(0.05)
            wall = time.perf_counter() - started
            finished = list(Run.objects.filter(pk__in=ids))
    finally:
        llm.stop()
    queued = [
        (run.started_at - run.created_at).total_seconds() * 1000
        for run in finished
        if run.started_at is not None
    ] or [float("nan")]
    seen = first_calls(llm.requests)
    return {
        "workers": workers,
        "wall": wall,
        "p50": statistics.median(queued),
        "p95": percentile(queued, 0.95),
        "split": sorted(collections.Counter(run.worker_id for run in finished).values()),
        "statuses": dict(collections.Counter(run.status for run in finished)),
        "twice": sum(1 for run in finished if seen[run.message] > 1),
        # Turns whose first model call was not found: the count above would prove nothing.
        "unseen": sum(1 for run in finished if seen[run.message] == 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=80)
    parser.add_argument("--seconds", type=float, default=2, help="each model call's duration")
    parser.add_argument("--concurrency", type=int, default=20, help="turns per worker at once")
    parser.add_argument("--workers", default="1,2,4", help="process counts to compare")
    args = parser.parse_args()

    results = [
        phase(int(n), args.turns, f"{args.seconds:g}", args.concurrency)
        for n in args.workers.split(",")
    ]
    from django.db import connection

    print(
        f"database  {connection.vendor}; {args.turns} turns × {args.seconds:g} s model calls, "
        f"{args.concurrency} turns at once per worker"
    )
    for r in results:
        print(
            f"workers={r['workers']}  wall {r['wall']:.2f} s  queue p50 {r['p50']:.0f} ms "
            f"p95 {r['p95']:.0f} ms  split {r['split']}  statuses {r['statuses']}  "
            f"executed twice {r['twice']}  first call not found {r['unseen']}"
        )
    line = " ".join(
        f"w{r['workers']}_wall_s={r['wall']:.2f} w{r['workers']}_queue_p50_ms={r['p50']:.0f}"
        for r in results
    )
    print(f"scaleout {line} executed_twice={sum(r['twice'] for r in results)}")


if __name__ == "__main__":
    main()
