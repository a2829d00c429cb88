"""Competition judging: its wall time, and what it does to ordinary chat turns meanwhile.

A competition with `--entries` agents × `--tasks` tasks is judged by real `manage.py
run_worker` processes (their periodic job `competitions_judge`): every answer is one model
call that takes `--seconds` (the local fake server's `slow-<s>` scenario, which answers
"slow done", the tasks' expected answer). Judging wall time runs from the moment the
competition closes to its payout (`finished_at`). Meanwhile a user sends an ordinary chat
turn (a one-call `echo` agent) every `--every` seconds; their queueing delay (created →
started by a worker) is compared with the same turns sent before judging (A/B, same run,
same worker). Runs on a scratch database (SQLite, or beside DATABASE_URL's on PostgreSQL).

    .venv/bin/python bench/competition.py [--entries 20] [--tasks 10] [--seconds 1]
        [--concurrency N] [--workers 1] [--max-in-flight N]
    DATABASE_URL=postgres://… .venv/bin/python bench/competition.py
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import percentile, platform, scratch_database  # noqa: E402


def make_agent(username: str, model: str):
    from accounts.models import User
    from agents import services
    from agents.validation import AgentConfig

    user = User.objects.create_user(username=username, password="x")
    agent = services.agent_create(owner=user, config=AgentConfig(name=username, model=model))
    return user, services.agent_start(agent=agent, by=user)


def queue_ms(run_ids: list[int]) -> list[float]:
    from agents.models import Run

    runs = Run.objects.filter(pk__in=run_ids, started_at__isnull=False)
    return [(run.started_at - run.created_at).total_seconds() * 1000 for run in runs]


def counter(n: int):
    """An `until` for chat_turns: true on its n-th call (n turns sent)."""
    calls = iter(range(n, -1, -1))
    return lambda: next(calls) == 0


def chat_turns(user, agent, *, every: float, until) -> list[int]:
    """Send a turn every `every` seconds, each in a new conversation, until `until()`;
    returns their run ids once all are final."""
    from agents import services
    from agents.models import Run

    ids = []
    while not until():
        ids.append(services.run_start(agent=agent, user=user, message=f"turn {len(ids)}").pk)
        time.sleep(every)
    deadline = time.monotonic() + 60
    while Run.objects.filter(pk__in=ids).in_flight().exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return ids


def run(args) -> None:
    from django.conf import settings
    from django.utils import timezone

    from agents.models import Run
    from competitions.models import Competition, Evaluation
    from competitions.services import TaskSpec, competition_create, competition_enter

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seconds = f"{args.seconds:g}"
    organizer, _ = make_agent("organizer", "openai:echo")
    chatter, chat_agent = make_agent("chatter", "openai:echo")
    competition = competition_create(
        organizer=organizer,
        title="Bench",
        entry_fee="1.00",
        prize="100.00",
        closes_at=timezone.now() + timedelta(seconds=settings.COMPETITION_MIN_SECONDS + 60),
        tasks=[TaskSpec(f"Task {n}: say it", "slow done", "contains") for n in range(args.tasks)],
    )
    entrants = [make_agent(f"entrant{n}", f"openai:slow-{seconds}") for n in range(args.entries)]
    for user, agent in entrants:
        competition_enter(competition=competition, agent=agent, by=user)

    # A: chat turns with no judging, after a few that warm the workers' sandbox pools.
    chat_turns(chatter, chat_agent, every=args.every, until=counter(3))
    started = time.monotonic()
    idle_ids = chat_turns(
        chatter,
        chat_agent,
        every=args.every,
        until=lambda: time.monotonic() - started > args.idle_seconds,
    )

    # B: close it, and chat while it is judged, until it is paid out.
    closed_at = timezone.now()
    Competition.objects.filter(pk=competition.pk).update(closes_at=closed_at)
    deadline = time.monotonic() + args.timeout
    status = Competition.objects.filter(pk=competition.pk).values_list("status", flat=True)
    busy_ids = chat_turns(
        chatter,
        chat_agent,
        every=args.every,
        until=lambda: status.get() in ("finished", "cancelled") or time.monotonic() > deadline,
    )
    competition.refresh_from_db()
    wall = (
        (competition.finished_at - closed_at).total_seconds()
        if competition.finished_at
        else float("nan")
    )
    evaluations = Evaluation.objects.filter(competition=competition)
    passed = evaluations.filter(status="passed").count()
    judging_runs = list(
        Run.objects.filter(agent_id__in=[agent.pk for _, agent in entrants]).values_list(
            "pk", flat=True
        )
    )
    idle, busy, judged = queue_ms(idle_ids), queue_ms(busy_ids), queue_ms(judging_runs)
    nan = [float("nan")]
    i50 = statistics.median(idle or nan)
    b50, b95 = statistics.median(busy or nan), percentile(busy or nan, 0.95)
    j50 = statistics.median(judged or nan)
    serial = args.entries * args.tasks * args.seconds
    # competitions.judging.max_in_flight: the setting, at most half the workers' slots.
    cap = min(settings.COMPETITION_MAX_RUNS_IN_FLIGHT, max(1, args.workers * args.concurrency // 2))
    ideal = serial / cap
    print(
        f"judging   {args.entries} entries × {args.tasks} tasks × {seconds} s answers: "
        f"{competition.status} in {wall:.1f} s (serial {serial:.0f} s; "
        f"{cap} in flight at best {ideal:.0f} s), "
        f"{passed}/{evaluations.count()} passed"
    )
    print(f"          judging runs' queueing p50={j50:.0f} ms")
    print(
        f"chat      idle  {len(idle)} turns: queueing p50={i50:.0f} ms "
        f"p95={percentile(idle or nan, 0.95):.0f} ms"
    )
    print(f"          while judging {len(busy)} turns: p50={b50:.0f} ms p95={b95:.0f} ms")
    print(f"database  {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    print(
        f"competition entries={args.entries} tasks={args.tasks} answer_s={seconds} "
        f"judging_wall_s={wall:.1f} passed={passed} "
        f"in_flight_cap={cap} workers={args.workers} worker_concurrency={args.concurrency} "
        f"judging_run_queue_p50_ms={j50:.0f} turn_queue_p50_ms={b50:.0f} "
        f"turn_queue_p95_ms={b95:.0f} idle_turn_queue_p50_ms={i50:.0f} turns={len(busy)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0, help="each answer's model call")
    parser.add_argument("--every", type=float, default=0.5, help="a chat turn every (s)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="chat before closing")
    parser.add_argument("--workers", type=int, default=1, help="run_worker processes")
    parser.add_argument("--concurrency", type=int, default=None, help="run_worker --concurrency")
    parser.add_argument("--max-in-flight", type=int, default=None, help="the judging cap")
    parser.add_argument("--timeout", type=float, default=600, help="give up after (s)")
    args = parser.parse_args()

    url, drop = scratch_database("compbench")
    os.environ["DATABASE_URL"] = url
    if args.max_in_flight is not None:
        os.environ["COMPETITION_MAX_RUNS_IN_FLIGHT"] = str(args.max_in_flight)
    if args.concurrency is None:
        args.concurrency = int(os.environ.get("WORKER_CONCURRENCY", "50"))
    worker_args = ("--concurrency", str(args.concurrency))
    try:
        with platform(workers=args.workers, worker_args=worker_args):
            run(args)
    finally:
        drop()


if __name__ == "__main__":
    main()
