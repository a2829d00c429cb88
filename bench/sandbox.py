"""What the sandbox's isolation costs: a child's start, cold (forked from the fork server and
isolated) and pool-warm, one code action's round trip, and how fast a kill lands.

Runs as whoever starts it: as root children get dedicated uids; as an ordinary user they get
a user namespace. Run it both ways to compare the modes. No database, no Django settings needed.

    .venv/bin/python bench/sandbox.py [--children 20] [--actions 200] [--kills 5]
    sudo bash .ci/sandbox-nonroot --bench [--children 20 ...]   # the same as an ordinary user

The second line builds what an ordinary user can run (the usual interpreter lives under /root,
closed to it): a copy of the checkout and a virtualenv from Debian's /usr/bin/python3, both
read-only to a system user it creates, then runs this script as that user (about 40 s to set
up, then the script).
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
    from agents.runtime.sandbox import (
        SandboxError,
        SandboxLimits,
        isolation_state,
        start_sandbox,
    )

    limits = SandboxLimits(memory_bytes=256 << 20, cpu_seconds=5, action_timeout=10.0)
    start_sandbox(limits).close()  # the fork server is up: cold below means a fresh child

    cold = []
    for _ in range(args.children):
        started = time.perf_counter()
        child = start_sandbox(limits)
        cold.append(time.perf_counter() - started)
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
    assert child.setup([], [])["ok"]
    first = child.run_code("x = 1 + 1\nx")
    assert first["ok"] and first["output"] == 2, first
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
    state = isolation_state(limits)
    print(
        f"mode      {mode} (uid {os.geteuid()})  {state['mode']}, uids {state['uid_mode']}, "
        f"namespaces {','.join(state['namespaces'])}"
    )
    print(f"cold      p50 {ms(statistics.median(cold))} ms  max {ms(max(cold))} ms")
    print(f"warm      p50 {ms(statistics.median(warm))} ms  (a pool hit: the child is ready)")
    print(f"action    p50 {ms(statistics.median(trips))} ms  p95 {ms(percentile(trips, 0.95))} ms")
    if kills:
        print(f"kill      p50 {ms(statistics.median(kills))} ms  max {ms(max(kills))} ms")
    else:
        print("kill      n/a")
    print(
        f"sandbox mode={mode} cold_p50_ms={ms(statistics.median(cold))} "
        f"warm_p50_ms={ms(statistics.median(warm))} action_p50_ms={ms(statistics.median(trips))} "
        f"kill_max_ms={ms(max(kills)) if kills else 'n/a'}"
    )


if __name__ == "__main__":
    main()
