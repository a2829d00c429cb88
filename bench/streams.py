"""How many live run event streams (GET /api/v1/runs/{id}/events) one web process holds.

Serves the site with one server process on a throwaway database (SQLite, or with a
PostgreSQL DATABASE_URL a scratch database beside it): uvicorn on `config.asgi` by default,
or `--server gunicorn` (one gthread worker, `--threads`). At each level N (250, 500, 1000…)
it opens N streams, each following its own run in flight, then for `--seconds` stores steps
the way agents do, each run a step every `--step-every` seconds on average (staggered, a
batch per 0.1 s), and times how long each step takes from its commit to its stream. A level
is *held* when no stream was refused or dropped, every step arrived, and the p95 delivery
time is under `--deadline` seconds (4 poll intervals); it stops at the first level that is
not held. Client, writer and server share the machine, so the figure is a floor.

    .venv/bin/python bench/streams.py [--server uvicorn|gunicorn] [--levels 250,500,1000]

Prints one line, e.g.
    streams_held=1000 server=uvicorn db=sqlite poll_s=0.1 step_p50_ms=… step_p95_ms=… rss_mib=…
and one line per level on stderr.
"""

import argparse
import asyncio
import os
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import percentile, rss_kib, scratch_database  # noqa: E402

POLL_SECONDS = float(os.environ.get("RUN_STREAM_POLL_SECONDS", "0.1"))  # settings' default


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn's worker), in KiB."""
    total = rss_kib(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(child) for child in fh.read().split()]
    except OSError:
        return total
    return total + sum(tree_rss_kib(child) for child in children)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(kind: str, port: int, env: dict, threads: int) -> subprocess.Popen:
    bind = f"127.0.0.1:{port}"
    if kind == "uvicorn":
        command = [
            sys.executable, "-m", "uvicorn", "config.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--log-level", "warning", "--backlog", "4096", "--timeout-keep-alive", "5",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", bind, "--workers", "1",
            "--worker-class", "gthread", "--threads", str(threads), "--backlog", "4096",
            "--log-level", "warning", "--timeout", "600",
        ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=raise_fd_limit)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{kind} did not start")


def make_runs(user, count: int) -> list[int]:
    from agents.models import Agent, Conversation, Run

    agent = Agent.objects.filter(owner=user).first() or Agent.objects.create(
        owner=user, name="Streams", model="openai:echo", state="running"
    )
    conversation = Conversation.objects.create(agent=agent, user=user, title="bench")
    runs = Run.objects.bulk_create(
        Run(conversation=conversation, agent=agent, user=user, message="bench", status="running")
        for _ in range(count)
    )
    return [run.pk for run in runs]


def write_steps(run_ids: list[int], seconds: float, every: float, commits: dict) -> None:
    """For `seconds`, every 0.1 s give a random batch of runs their next step (one
    transaction per batch): each run a step every `every` seconds on average. Records each
    step's commit time in `commits[(run_id, index)]`."""
    from django.db import connection, transaction

    from agents.models import RunStep

    rng = random.Random(7)
    batch = max(1, round(len(run_ids) * 0.1 / every))
    next_index = dict.fromkeys(run_ids, 1)
    deadline = time.monotonic() + seconds
    tick = time.monotonic()
    while time.monotonic() < deadline:
        chosen = rng.sample(run_ids, batch)
        with transaction.atomic():
            RunStep.objects.bulk_create(
                RunStep(run_id=r, index=next_index[r], text="a step", duration_ms=1) for r in chosen
            )
        committed = time.monotonic()
        for r in chosen:
            commits[(r, next_index[r])] = committed
            next_index[r] += 1
        tick += 0.1
        time.sleep(max(0.0, tick - time.monotonic()))
    connection.close()


STEP = re.compile(rb"id: (\d+)\nevent: step")


class Stream:
    """One raw HTTP/1.1 connection reading a run's event stream."""

    def __init__(self, port: int, run_id: int, token: str):
        self.port, self.run_id, self.token = port, run_id, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = b""
        self.arrived: dict[int, float] = {}
        self.failed = ""

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            (
                f"GET /api/v1/runs/{self.run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        await self._until(b"event: status")
        if b" 200 " not in self.buffer.split(b"\r\n", 1)[0]:
            raise RuntimeError(self.buffer[:200])

    async def _until(self, marker: bytes) -> None:
        assert self.reader is not None
        while marker not in self.buffer:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk

    async def follow(self) -> None:
        """Read until closed, noting when each step arrives."""
        assert self.reader is not None
        scanned = 0
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    self.failed = "closed by the server"
                    return
                now = time.monotonic()
                self.buffer += chunk
                for match in STEP.finditer(self.buffer, max(0, scanned - 32)):
                    self.arrived.setdefault(int(match.group(1)), now)
                scanned = len(self.buffer)
        except (ConnectionError, asyncio.CancelledError) as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self.failed = repr(exc)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def level(
    port: int, token: str, run_ids: list[int], *, seconds: float, every: float, deadline: float
) -> dict:
    streams = [Stream(port, run_id, token) for run_id in run_ids]
    started = time.monotonic()
    refused = 0
    for batch in range(0, len(streams), 100):
        results = await asyncio.gather(
            *(s.open() for s in streams[batch : batch + 100]), return_exceptions=True
        )
        refused += sum(1 for r in results if isinstance(r, BaseException))
    opened = time.monotonic() - started
    if refused:
        for s in streams:
            s.close()
        return {"held": False, "refused": refused, "open_s": round(opened, 1)}
    readers = [asyncio.create_task(s.follow()) for s in streams]
    commits: dict[tuple[int, int], float] = {}
    writer = threading.Thread(target=write_steps, args=(run_ids, seconds, every, commits))
    writer.start()
    await asyncio.to_thread(writer.join)
    await asyncio.sleep(deadline + 1)  # the last steps' delivery
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for s in streams:
        s.close()
    by_run = {s.run_id: s for s in streams}
    latencies, missing = [], 0
    for (run_id, index), committed in commits.items():
        arrived = by_run[run_id].arrived.get(index)
        if arrived is None:
            missing += 1
        else:
            latencies.append((arrived - committed) * 1000)
    dropped = sum(1 for s in streams if s.failed)
    p95 = percentile(latencies, 0.95) if latencies else None
    return {
        "held": not dropped and not missing and p95 is not None and p95 <= deadline * 1000,
        "refused": 0,
        "dropped": dropped,
        "steps": len(commits),
        "missing": missing,
        "open_s": round(opened, 1),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p95_ms": p95,
        "max_ms": max(latencies) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["uvicorn", "gunicorn"], default="uvicorn")
    parser.add_argument("--levels", default="250,500,1000,2000,4000")
    parser.add_argument("--seconds", type=float, default=10, help="steps written per level")
    parser.add_argument("--step-every", type=float, default=5, help="seconds between a run's steps")
    parser.add_argument("--threads", type=int, default=0, help="gunicorn: default max level")
    parser.add_argument("--deadline", type=float, default=4 * POLL_SECONDS)
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")]
    raise_fd_limit()

    url, drop = scratch_database("streams")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-streams-secret-key-not-for-production-0123456789",
        "SECURE_SSL_REDIRECT": "0",
        "RUN_STREAM_MAX_SECONDS": "600",
        "RUN_STREAM_POLL_SECONDS": str(POLL_SECONDS),
        "LOG_LEVEL": "WARNING",
        # Enough pooled connections for the stream looks (uvicorn: its thread pool; gunicorn:
        # each thread takes one for a look, then gives it back).
        "DB_POOL_MAX_SIZE": os.environ.get("DB_POOL_MAX_SIZE", "20"),
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from accounts.services import token_create

    user = User.objects.create(username="streams", password="!")
    _token, raw = token_create(user=user, name="bench")
    port = free_port()
    threads = args.threads or max(levels)
    server = start_server(args.server, port, env, threads)
    held, best, rss = 0, {}, 0
    try:
        for n in levels:
            run_ids = make_runs(user, n)
            connection.close()
            result = asyncio.run(
                level(
                    port,
                    raw,
                    run_ids,
                    seconds=args.seconds,
                    every=args.step_every,
                    deadline=args.deadline,
                )
            )
            level_rss = tree_rss_kib(server.pid)
            print(f"level={n} {result} rss_mib={level_rss // 1024}", file=sys.stderr)
            if not result["held"]:
                break
            held, best, rss = n, result, level_rss
            time.sleep(1)  # the server notices the closed streams
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        drop()

    def ms(key: str) -> str:
        return "na" if best.get(key) is None else f"{best[key]:.0f}"

    print(
        f"streams_held={held} server={args.server} db={connection.vendor} poll_s={POLL_SECONDS}"
        f" step_p50_ms={ms('p50_ms')} step_p95_ms={ms('p95_ms')} rss_mib={rss // 1024}"
        + (f" threads={threads}" if args.server == "gunicorn" else "")
    )


if __name__ == "__main__":
    main()
