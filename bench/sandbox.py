"""What the sandbox's isolation costs: a child's start, cold (forked from the fork server and
isolated) and pool-warm, one code action's round trip, and how fast a kill lands.

Runs as whoever starts it: as root children get dedicated uids; as an ordinary user they get
a user namespace. Run it both ways to compare the modes (e.g. `runuser -u <user> -- …`). No
database, no Django settings needed.

    .venv/bin/python bench/sandbox.py [--children 20] [--actions 200] [--kills 5]
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import percentile  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--actions", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()

    from agents.runtime.pool import SandboxPool
    from agents.runtime.sandbox import SandboxError, SandboxLimits, start_sandbox

    limits = SandboxLimits(memory_bytes=256 << 20, cpu_seconds=5, action_timeout=10.0)
    start_sandbox(limits).close()  # the fork server is up: cold below means a fresh child

    cold, info = [], {}
    for _ in range(args.children):
        started = time.perf_counter()
        child = start_sandbox(limits)
        cold.append(time.perf_counter() - started)
        info = child.info
        child.close()

    warm = []
    with SandboxPool(2, limits) as pool:
        for _ in range(min(args.children, 10)):
            pool.wait_warm(15)
            started = time.perf_counter()
            child = pool.acquire()
            warm.append(time.perf_counter() - started)
            child.close()

    child = start_sandbox(limits)
    child.setup([], [])
    trips = []
    for _ in range(args.actions):
        started = time.perf_counter()
        child.run_code("x = 1 + 1\nx")
        trips.append(time.perf_counter() - started)
    child.close()

    kills = []
    for _ in range(args.kills):
        child = start_sandbox(limits)
        child.setup([], [])
        asked: list[float] = []

        def stop(child=child, asked=asked) -> None:
            asked.append(time.perf_counter())
            child.kill("stop")

        threading.Timer(0.2, stop).start()
        try:
            child.run_code("import time\ntime.sleep(100)", timeout=30)
        except SandboxError:
            kills.append(time.perf_counter() - asked[0])
        child.close()

    mode = "root" if os.geteuid() == 0 else "user"
    isolation = {key: info.get(key) for key in ("isolated", "user_ns", "pid_ns", "dedicated_uid")}
    print(f"mode      {mode} (uid {os.geteuid()})  isolation {isolation}")
    print(f"cold      p50 {ms(statistics.median(cold))} ms  max {ms(max(cold))} ms")
    print(f"warm      p50 {ms(statistics.median(warm))} ms")
    print(f"action    p50 {ms(statistics.median(trips))} ms  p95 {ms(percentile(trips, 0.95))} ms")
    print(f"kill      max {ms(max(kills)) if kills else 'n/a'} ms over {len(kills)} kills")
    print(
        f"sandbox mode={mode} cold_p50_ms={ms(statistics.median(cold))} "
        f"warm_p50_ms={ms(statistics.median(warm))} action_p50_ms={ms(statistics.median(trips))} "
        f"kill_max_ms={ms(max(kills)) if kills else 'n/a'}"
    )


if __name__ == "__main__":
    main()
