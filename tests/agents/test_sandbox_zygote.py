"""The sandbox fork server (zygote): what a forked child inherits, what it cannot reach, and the
zygote's life cycle (dies with the worker, replaced when it dies, reaps its children)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from agents.runtime import zygote
from agents.runtime.pool import SandboxPool
from agents.runtime.sandbox import PROJECT_DIR, Sandbox, SandboxError, SandboxLimits
from agents.runtime.uids import pids_of_uid as _pids_of_uid
from agents.runtime.zygote import fork_server
from tools_registry.specs import ToolSpec

LIMITS = SandboxLimits(memory_bytes=256 << 20, cpu_seconds=2, action_timeout=5.0, max_processes=16)
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="dedicated uids need a root worker")
CONTAINED = ("PermissionError", "ProcessLookupError", "FileNotFoundError")

PROBE = ToolSpec(
    name="probe",
    description="Describe what this process can see and reach.",
    inputs={
        "zygote": {"type": "integer", "description": "The fork server's (real) pid."},
        "worker": {"type": "integer", "description": "The worker's (real) pid."},
    },
    output_type="object",
    source=textwrap.dedent(
        '''
        import os
        import random
        import signal
        import stat

        from smolagents import tool


        @tool
        def probe(zygote: int, worker: int) -> dict:
            """Describe what this process can see and reach.

            Args:
                zygote: The fork server's (real) pid.
                worker: The worker's (real) pid.
            """
            fds = {}
            for name in os.listdir("/proc/self/fd"):
                try:
                    fds[int(name)] = os.readlink("/proc/self/fd/" + name)
                except OSError:
                    pass
            sockets = []
            for fd in range(1024):
                try:
                    if stat.S_ISSOCK(os.fstat(fd).st_mode):
                        sockets.append(fd)
                except OSError:
                    pass
            reach = {}
            for name, target in (("zygote", zygote), ("worker", worker)):
                for what, attempt in (
                    ("signal", lambda: os.kill(target, 0)),
                    ("sigkill", lambda: os.kill(target, signal.SIGKILL)),
                    ("environ", lambda: open("/proc/%d/environ" % target, "rb").read()),
                    ("fds", lambda: os.listdir("/proc/%d/fd" % target)),
                    ("mem", lambda: open("/proc/%d/mem" % target, "rb").read(1)),
                ):
                    try:
                        attempt()
                        reach[name + "_" + what] = "allowed"
                    except OSError as exc:
                        reach[name + "_" + what] = type(exc).__name__
            return {
                "pid": os.getpid(),
                "ppid": os.getppid(),
                "procs": sorted(int(n) for n in os.listdir("/proc") if n.isdigit()),
                "env": dict(os.environ),
                "self_environ": repr(open("/proc/self/environ", "rb").read())
                if os.access("/proc/self/environ", os.R_OK) else "unreadable",
                "fds": fds,
                "sockets": sockets,
                "reach": reach,
                "random": random.random(),
                "pgid": os.getpgid(0),
                "sid": os.getsid(0),
            }
        '''
    ),
)

DIE = ToolSpec(
    name="die",
    description="Exit the process running it.",
    output_type="any",
    source=textwrap.dedent(
        '''
        import os

        from smolagents import tool


        @tool
        def die() -> int:
            """Exit the process running it."""
            os._exit(9)
        '''
    ),
)


def zygote_pid() -> int:
    return fork_server(LIMITS.python).wait_ready(20)


def started(limits: SandboxLimits = LIMITS, tools=(PROBE,)) -> Sandbox:
    sandbox = Sandbox(limits)
    try:
        sandbox.wait_ready()
        assert sandbox.setup([t.to_json() for t in tools], [])["ok"]
    except BaseException:
        sandbox.close()
        raise
    return sandbox


def probe(sandbox: Sandbox) -> dict:
    result = sandbox.run_code(f"probe(zygote={zygote_pid()}, worker={os.getpid()})")
    assert result["ok"], result
    return result["output"]


def proc_status(pid: int) -> dict:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
    except OSError:
        return {}


def is_gone(pid: int) -> bool:
    state = proc_status(pid).get("State", "").split()
    return not state or state[0] in ("Z", "X")


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def children_of(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and proc_status(int(name)).get("PPid", "").strip() == str(pid):
            found.append(int(name))
    return found


def test_children_are_forked_by_one_single_threaded_secretless_zygote(monkeypatch):
    monkeypatch.setenv("AGENTBAY_CANARY", "zygote-env-canary")
    zygote = zygote_pid()
    with Sandbox(LIMITS) as first, Sandbox(LIMITS) as second:
        first.wait_ready()
        second.wait_ready()
        assert first.forked and second.forked
        assert first.pid != second.pid
        assert {int(proc_status(p)["PPid"]) for p in (first.pid, second.pid)} == {zygote}
    status = proc_status(zygote)
    assert status["Threads"].strip() == "1"
    if os.geteuid() == 0:
        with open(f"/proc/{zygote}/environ", "rb") as fh:
            assert fh.read() == b""  # started with an empty environment
        with open(f"/proc/{zygote}/cmdline", "rb") as fh:
            assert b"canary" not in fh.read()
        assert int(status["NoNewPrivs"]) == 1
    assert os.stat(f"/proc/{zygote}").st_uid == 0 or os.geteuid() != 0  # non-dumpable


def test_forked_child_has_empty_env_fresh_uid_own_session_and_only_its_pipes():
    first, second = started(), started()
    zygote = zygote_pid()
    try:
        a, b = probe(first), probe(second)
        for sandbox, seen in ((first, a), (second, b)):
            assert int(proc_status(sandbox.pid)["PPid"]) == zygote
            if sandbox.info["pid_ns"]:
                # pid 1 of its own namespace, under a supervisor that the worker knows
                assert seen["pid"] == 1 and seen["ppid"] == 0
                assert seen["procs"] == [1]  # a fresh /proc: only its own processes
                assert seen["pgid"] == seen["sid"] == 0  # the session leader is outside
                (inner,) = children_of(sandbox.pid)
                assert os.getpgid(inner) == os.getsid(inner) == sandbox.pid
            else:
                assert seen["pid"] == sandbox.pid and seen["ppid"] == zygote
                assert seen["pgid"] == seen["sid"] == sandbox.pid  # killpg reaches all
    finally:
        first.close()
        second.close()
    for seen in (a, b):
        assert seen["env"] == {}
        assert seen["self_environ"] in ("b''", "unreadable")
        # 0/1/2 on /dev/null, the two protocol pipes on 3/4, the listdir fd; nothing else.
        fds = {int(k): v for k, v in seen["fds"].items()}
        assert [fds[n] for n in (0, 1, 2)] == ["/dev/null"] * 3
        assert fds[3].startswith("pipe:") and fds[4].startswith("pipe:")
        assert set(fds) <= {0, 1, 2, 3, 4, 5}, fds
        assert seen["sockets"] == []  # in particular not the zygote's control socket
    assert a["random"] != b["random"]  # the zygote's random state is not shared
    if os.geteuid() == 0:
        assert first.info["dedicated_uid"] and second.info["dedicated_uid"]
        assert first.info["uid"] != second.info["uid"]
        assert first.info["uid"] >= LIMITS.uid_base
        assert first.info["env_keys"] == 0


def test_child_cannot_signal_read_or_talk_to_the_zygote_or_the_worker():
    """With the real pids of both (not getppid(): that is the supervisor, or 0 inside a pid
    namespace). Contained as root by the dedicated uid, in both modes by the pid namespace."""
    zygote = zygote_pid()
    sandbox = started()
    try:
        if os.geteuid() != 0 and not sandbox.info["pid_ns"]:
            pytest.skip("a shared-uid child without a pid namespace can signal the worker")
        seen = probe(sandbox)
        assert len(seen["reach"]) == 10
        for what, result in seen["reach"].items():
            assert result in CONTAINED, (what, result)
        assert not is_gone(zygote)
    finally:
        sandbox.close()
    # The zygote still forks for the worker.
    with Sandbox(LIMITS) as again:
        again.wait_ready()
        assert fork_server(LIMITS.python).pid == zygote


@ROOT_ONLY
def test_zygote_memory_never_holds_run_data():
    canary = "run-data-canary-" + os.urandom(8).hex()
    tool = ToolSpec(
        name="secret_tool",
        description=canary,
        output_type="string",
        source=f"from smolagents import tool\n\n\n@tool\ndef secret_tool() -> str:\n"
        f'    """{canary}"""\n    return {canary!r}\n',
    )
    sandbox = Sandbox(LIMITS)
    try:
        sandbox.wait_ready()
        assert sandbox.setup([tool.to_json()], [], variables={"v": canary})["ok"]
        assert sandbox.run_code("secret_tool()")["output"] == canary
    finally:
        sandbox.close()
    zygote = zygote_pid()
    needle = canary.encode()
    found = False
    with open(f"/proc/{zygote}/maps") as maps, open(f"/proc/{zygote}/mem", "rb") as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                if needle in mem.read(end - start):
                    found = True
            except (OSError, OverflowError, ValueError):
                continue
    assert not found


def test_exited_child_stays_reserved_until_close_then_is_reaped():
    zygote = zygote_pid()
    before = set(children_of(zygote))  # e.g. warm children of another module's pool
    sandbox = started(tools=(DIE,))
    pid = sandbox.pid
    with pytest.raises(SandboxError, match="exited with code 9") as err:
        sandbox.run_code("die()")
    assert err.value.reason == "died"
    # Unreaped until the worker lets go: the pid (and process group) cannot be reused.
    assert proc_status(pid).get("State", "").split()[:1] == ["Z"]
    sandbox.close()
    assert wait_until(lambda: not proc_status(pid))
    for _ in range(5):
        with Sandbox(LIMITS) as other:
            other.wait_ready()
    assert wait_until(lambda: set(children_of(zygote)) <= before)  # no zombies pile up


def test_zygote_dies_with_the_worker():
    script = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, sys.argv[1])
        from agents.runtime.sandbox import Sandbox, SandboxLimits
        from agents.runtime.zygote import fork_server
        sandbox = Sandbox(SandboxLimits(memory_bytes=256 << 20))
        sandbox.wait_ready()
        print(fork_server(sandbox.limits.python).pid, sandbox.pid, flush=True)
        time.sleep(120)
        """
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script, PROJECT_DIR], stdout=subprocess.PIPE, text=True
    )
    try:
        server, child = (int(x) for x in worker.stdout.readline().split())
        assert not is_gone(server) and not is_gone(child)
        assert int(proc_status(server)["PPid"]) == worker.pid
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert wait_until(lambda: is_gone(server) and is_gone(child), timeout=3)


def test_a_dead_zygote_is_replaced_and_its_children_fail_cleanly():
    old = zygote_pid()
    with SandboxPool(1, LIMITS) as pool:
        assert pool.wait_warm(15)
        running = pool.acquire()
        running.setup([], [])
        os.kill(old, signal.SIGKILL)
        with pytest.raises(SandboxError, match="fork server died") as err:
            running.run_code("import time\ntime.sleep(30)", timeout=10)
        assert err.value.reason == "died"
        running.close()
        assert is_gone(running.pid)
        # The warm child died with the zygote too; acquire() skips it and forks anew.
        started_at = time.monotonic()
        fresh = pool.acquire()
        try:
            assert fresh.forked and fresh.alive
            fresh.setup([], [])
            assert fresh.run_code("1 + 1")["output"] == 2
        finally:
            fresh.close()
        assert time.monotonic() - started_at < 10
    new = zygote_pid()
    assert new != old
    assert is_gone(old)


def test_burst_of_concurrent_acquisitions_is_fast():
    with SandboxPool(2, LIMITS) as pool:
        assert pool.wait_warm(15)
        got, errors = [], []
        lock = threading.Lock()

        def one():
            try:
                sandbox = pool.acquire()
                with lock:
                    got.append(sandbox)
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(20)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        took = time.monotonic() - start
        pids = {s.pid for s in got}
        uids = {s.uid for s in got}
        for sandbox in got:
            sandbox.close()
    print(f"\n20 concurrent acquisitions in {took * 1000:.0f} ms")
    assert errors == []
    assert len(pids) == 20
    if os.geteuid() == 0:
        assert len(uids) == 20
    assert took < 5  # a fresh interpreter per child: ~0.35 s of CPU each, ~4 s on 2 cores


def test_direct_start_still_works():
    with Sandbox(SandboxLimits(memory_bytes=256 << 20, fork_server=False)) as sandbox:
        info = sandbox.wait_ready()
        assert not sandbox.forked
        assert info["env_keys"] == 0
        sandbox.setup([], [])
        assert sandbox.run_code("6 * 7")["output"] == 42


def test_an_interpreter_that_cannot_start_is_a_start_error_not_a_hang():
    limits = SandboxLimits(python="/bin/false", start_timeout=5)
    started_at = time.monotonic()
    try:
        with pytest.raises(SandboxError), Sandbox(limits) as sandbox:
            sandbox.wait_ready()
        assert time.monotonic() - started_at < 8
    finally:
        zygote._servers.pop("/bin/false").close()


@ROOT_ONLY
def test_sandbox_uids_are_unique_across_worker_processes(tmp_path):
    """Two workers on one host never hand out the same uid (each would sweep the other's)."""
    from agents.runtime.uids import UidAllocator as _UidAllocator

    base = 650_000
    mine, theirs = _UidAllocator(str(tmp_path)), _UidAllocator(str(tmp_path))
    first = mine.acquire(base, 8)
    second = theirs.acquire(base, 8)  # another process: a separate flock on the same file
    assert first == base and second == base + 1
    mine.release(first)
    assert theirs.acquire(base, 8) == base + 2  # round robin, then the released one again
    # A worker that dies holding a uid leaves its pid in the lock file: the next owner sweeps.
    script = textwrap.dedent(
        """
        import os, sys, time
        sys.path.insert(0, sys.argv[1])
        from agents.runtime.uids import UidAllocator as _UidAllocator
        uid = _UidAllocator(sys.argv[2]).acquire(int(sys.argv[3]), 1)
        if os.fork() == 0:  # an escaped process of the sandbox uid, orphaned by the crash
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 1024)  # a sandbox child never holds the worker's uid lock fds
            os.setsid()
            os.setgid(uid)
            os.setuid(uid)
            time.sleep(60)
            os._exit(0)
        print(uid, flush=True)
        os._exit(0)  # dies without releasing
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, PROJECT_DIR, str(tmp_path), str(base + 5)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.stdout.strip() == str(base + 5), out.stderr
    assert wait_until(lambda: _pids_of_uid(base + 5) != [])
    assert _UidAllocator(str(tmp_path)).acquire(base + 5, 1) == base + 5
    assert _pids_of_uid(base + 5) == []
