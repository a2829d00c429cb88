"""Every abuse payload through the real CodeAgent + SandboxExecutor path: contained, no canary,
bounded time, the parent alive with flat memory, no trace on the host, and a concurrent run's
child (the ``victim`` payloads' target) alive with its work dir intact. No database needed.

Runs as root (dedicated child uids) and, in CI, as an ordinary user (``.ci/sandbox-nonroot``)."""

import fcntl
import os
import secrets

import pytest

from agents.runtime.pool import SandboxPool
from agents.runtime.sandbox import PROJECT_DIR, SandboxLimits
from agents.runtime.uids import UID_LOCK_DIR
from agents.runtime.uids import pids_of_uid as _pids_of_uid
from tests.agents.abuse_corpus import (
    CANARY_ENV,
    DEFAULT_EXPECT,
    PAYLOADS,
    Targets,
    host_secrets,
    host_snapshot,
    host_socket_listening,
    host_sockets,
    host_traces,
    no_escapees,
    run_payload,
    vm_rss_kib,
    zygote_pid,
)

LIMITS = SandboxLimits(memory_bytes=256 << 20, cpu_seconds=1, action_timeout=2.0, max_processes=16)
# Longest legitimate containment: CPU 1 s (+1 hard) or the 2 s wall clock, plus a restart.
BOUND_SECONDS = 6.0
RESULTS: dict = {}


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def canary():
    value = "canary-" + secrets.token_hex(12)
    old = os.environ.get(CANARY_ENV)
    os.environ[CANARY_ENV] = value
    yield value
    if old is None:
        os.environ.pop(CANARY_ENV, None)
    else:
        os.environ[CANARY_ENV] = old


@pytest.fixture(scope="module")
def pool(canary):
    pool = SandboxPool(2, LIMITS)
    pool.wait_warm()
    RESULTS["rss_before_kib"] = vm_rss_kib()
    yield pool
    pool.shutdown()


@pytest.fixture(scope="module")
def targets(pool):
    """The real targets: this worker, its fork server, secret files it can read, listening
    Unix sockets it can reach."""
    with host_secrets(PROJECT_DIR) as (files, canaries), host_sockets() as sockets:
        assert files, "no secret file to aim at"
        assert sockets, "no Unix socket to aim at"
        yield Targets(
            PROJECT_DIR,
            zygote_pid(LIMITS.python),
            secret_files=files,
            canaries=canaries,
            sockets=sockets,
        )


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p["id"] for p in PAYLOADS])
def test_payload_is_contained(payload, pool, canary, targets):
    if payload.get("requires_root") and os.geteuid() != 0:
        pytest.skip("only contained when the worker runs as root (dedicated child uids)")
    if payload.get("host_socket") and not host_socket_listening(payload["host_socket"]):
        pytest.skip(f"nothing listens on {payload['host_socket']} on this host")
    zygote = zygote_pid(LIMITS.python)
    snapshot = host_snapshot(PROJECT_DIR)
    result = run_payload(payload, pool, targets)
    RESULTS[payload["id"]] = result

    # This process (the worker) is alive by construction; its fork server must be too.
    assert zygote_pid(LIMITS.python) == zygote and not _pid_is_gone(zygote)
    assert no_escapees(), "a process of the run outlived it"

    assert canary not in result["all_text"]
    for secret in targets.canaries:
        assert secret not in result["all_text"]
    assert host_traces(PROJECT_DIR, snapshot) == []
    if payload.get("victim"):  # the other run: alive, its work dir intact and unseen
        assert result["victim_answer"] == result["victim_secret"], result
        assert result["victim_secret"] not in result["all_text"]
    assert result["elapsed"] < BOUND_SECONDS, result
    assert result["outcome"] in payload.get("expect", DEFAULT_EXPECT), result
    if payload.get("at_setup"):
        assert result["raised"] and "SandboxError" in result["raised"]
    elif payload.get("final"):
        assert result["output"] == payload["expect_output"]
    else:
        assert result["output"] == "done", result  # the run went on after the payload
    if result["outcome"] == "harmless" and payload.get("expect_in_output"):
        assert payload["expect_in_output"] in result["observation"], result
    # The payload's first child is gone (killed with the run, or replaced after a kill).
    assert _pid_is_gone(result["child_pid"])


def _pid_is_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.startswith("State:") and line.split()[1] in "ZX" for line in fh)
    except OSError:
        return True


def _held_by_another_worker(uid: int) -> bool:
    """The uid is in use by a live worker process on this host (e.g. a concurrent test run):
    its processes are that worker's children, not leftovers of this one."""
    try:
        fd = os.open(os.path.join(UID_LOCK_DIR, str(uid)), os.O_RDONLY)
    except OSError:
        return False
    try:
        owner = os.read(fd, 32).decode().strip()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return owner != str(os.getpid())  # a lock this process holds excuses nothing
    finally:
        os.close(fd)
    return False


def test_parent_alive_memory_flat_and_no_leftover_processes(pool):
    assert len([k for k in RESULTS if not k.endswith("_kib")]) >= 15
    rss_after = vm_rss_kib()
    growth = rss_after - RESULTS["rss_before_kib"]
    print(f"\nparent VmRSS {RESULTS['rss_before_kib']} -> {rss_after} KiB")
    assert growth < 40 * 1024
    if os.geteuid() == 0:
        warm = {s.uid for s in list(pool._ready)}
        base, count = LIMITS.uid_base, LIMITS.uid_count
        leftovers = [
            uid
            for uid in range(base, base + 64)
            if uid not in warm and _pids_of_uid(uid) and not _held_by_another_worker(uid)
        ]
        assert leftovers == [], f"processes left behind under sandbox uids {leftovers}"
        assert count >= 64
