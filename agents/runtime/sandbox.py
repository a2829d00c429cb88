"""One sandbox child process for an agent run: start it, talk to it, kill it.

Each run gets its own child (handed out warm by ``pool.py``; its dedicated uid comes from
``uids.py``); the code that runs inside it is the ``sandbox_child`` package.

Children are forked from a per-worker fork server (``zygote.py``: smolagents imported once, no
secrets, single-threaded), so a child costs a fork and its own isolation (~10 ms), not a fresh
interpreter (~0.35 s of CPU). Each forked child applies every isolation step below itself, in
the same order as a directly started child (``SandboxLimits(fork_server=False)``, also the
fallback when the fork server cannot start).

Threat model
------------
Everything a run executes is hostile: the model's code actions (interpreted by smolagents'
``LocalPythonExecutor``, which is a filter, not a boundary) and custom tool sources (plain
Python, no filter at all). The worker process that drives the agent holds the secrets (model
credentials, database credentials) and must never run that code. So each run gets a child
process (the ``sandbox_child`` package) that:

- starts with an **empty environment** and clears it again after importing smolagents (whose
  import loads a project ``.env`` through python-dotenv);
- gets a **private mount namespace** (and ipc namespace) in both modes
  (``sandbox_child/isolation.py``; the kernel directly, not bubblewrap: no exec, so a forked
  child keeps the warm interpreter): a
  tmpfs working dir capped in bytes and inodes (bound on /tmp, /var/tmp, /dev/shm too, freed
  with the child); the project directory, /home, /root, /run and /var/run hidden under empty
  tmpfs, so the host's Unix sockets (PostgreSQL's, Redis's, D-Bus) and private files are
  gone; the interpreter's prefix and the venv stay visible, **read-only** (no ``.pth``
  planted for later interpreters). As root the namespace is entered directly; not root, in an
  unprivileged **user namespace** that maps the worker's uid to itself;
- cannot undo those mounts: as root it then switches to a **dedicated uid** (``uid_base + n``,
  unique among live children of every worker on the host: ``uids.py``), which drops every
  capability; it cannot read ``/proc/<worker>/environ``, signal or ptrace the worker or other
  children, ``RLIMIT_NPROC`` counts only its own processes, and its processes are swept by
  uid when it is killed. Not root, it drops every capability of its user namespace (bounding
  set included); the host's mounts are locked by the kernel anyway;
- is **pid 1 of its own pid namespace** with a fresh /proc (when the kernel allows: reported
  as ``pid_ns``), behind a small supervisor process outside that is the pid the worker knows
  and that exits as pid 1 did. The run sees only its own processes, so it cannot name the
  worker, the fork server or other runs even with a shared uid, and when pid 1 dies the
  kernel kills everything left in the namespace (setsid double forks included). Cost: one
  more fork, ~1 ms per child;
- **fails closed**: the ready report says whether the child is ``isolated`` (private mounts,
  and a dedicated uid or dropped capabilities); ``wait_ready`` refuses a child that is not,
  and ``harden_worker_process()`` (worker start) refuses to start the worker, unless
  ``SandboxLimits.allow_shared_uid`` (``SANDBOX_ALLOW_SHARED_UID=1``; a system check warns).
  ``isolation_state()`` says which of these the host gives (for the ops board and the worker
  heartbeat);
- runs in a worker made non-dumpable by ``harden_worker_process()``;
- gets ``resource`` limits: address space, CPU seconds (SIGXCPU, then SIGKILL; pid 1 ignores
  an unhandled SIGXCPU, so it exits on it from a C handler), processes, open files, file size
  (EFBIG), no core dumps; ``no_new_privs``; dies with its parent (the supervisor, the zygote,
  which dies with the worker; or the spawning thread of a directly started child);
- tries an unprivileged user+network namespace at setup when the run needs no network.

The parent only ever parses size-capped JSON lines from the child (never pickle) and treats
every message as untrusted data; a child that dies, hangs, floods or lies yields a
``SandboxError``, never a crash. The wall clock is enforced here, by killing the child's
process group (and its uid), because the executor's own timeout cannot stop a hang.

Not contained (know this before relying on it)
----------------------------------------------
- **Network**, if the user+network namespace is unavailable or the run asks for network: tool
  code can open sockets (exfiltration of whatever the run itself was given, SSRF to internal
  addresses, and the host's abstract Unix sockets). Block egress at the host for sandbox uids
  if that matters.
- World-readable files outside the hidden paths (e.g. /etc, the Python install) are readable.
  Keep secrets out of world-readable files anyway (``chmod 600 .env db.sqlite3``).
- With ``SANDBOX_ALLOW_SHARED_UID=1`` on a host without user namespaces (non-root worker),
  none of the mount, uid or pid isolation applies: the child has the worker's uid, sees the
  host's filesystem (the project, ``.env``, the SQLite file, the PostgreSQL socket) and can
  signal the worker, the fork server and other runs.
- Not root, children share the worker's uid outside their namespaces: ``RLIMIT_NPROC`` is
  counted per user namespace (so per child), but files a child creates in a shared writable
  place it can see would belong to the worker's user (there is none left but its own tmpfs).
- Without a pid namespace (``pid_ns`` false) and not root: a child could signal the worker,
  the fork server and other children, and a double-forked process could outlive its run.
- Kernel exploits, CPU/memory pressure within the limits, side channels. No seccomp filter and
  no cgroup: RLIMIT_AS bounds virtual memory per process, not the sum of a process tree.
- Forked children share the zygote's address-space layout (ASLR), stack canary and
  ``str`` hash secret: one run learns them for all runs of that zygote (a memory-corruption
  exploit of another child would still need control of that run's inputs).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .uids import UIDS, kill_uid

logger = logging.getLogger(__name__)

# A package directory run by path (its __main__.py): see sandbox_child/__main__.py.
CHILD_SCRIPT = str(Path(__file__).with_name("sandbox_child"))
PROJECT_DIR = str(Path(__file__).resolve().parents[2])

_MiB = 1024 * 1024


def _default_hide_paths() -> tuple[str, ...]:
    # /run and /var/run: the host's Unix sockets (PostgreSQL, Redis, D-Bus...), which no
    # network namespace covers. /tmp is covered by the child's own tmpfs working dir.
    return (PROJECT_DIR, "/home", "/root", "/run", "/var/run")


def _default_keep_paths() -> tuple[str, ...]:
    """Directories that stay visible (read-only) inside hidden ones: the interpreter, and the
    resolver configuration when /etc/resolv.conf points into /run (systemd-resolved)."""
    keep = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    resolv = os.path.realpath("/etc/resolv.conf")
    if not resolv.startswith("/etc/"):
        keep.add(os.path.dirname(resolv))
    return tuple(sorted(keep))


def allow_shared_uid_setting() -> bool:
    """``SANDBOX_ALLOW_SHARED_UID`` from Django's settings when they are configured, else
    from the environment (this module imports no Django)."""
    try:
        from django.conf import settings

        if settings.configured:
            return bool(getattr(settings, "SANDBOX_ALLOW_SHARED_UID", False))
    except ImportError:  # pragma: no cover - the worker always has Django
        pass
    return os.environ.get("SANDBOX_ALLOW_SHARED_UID", "") == "1"


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandbox child. Memory is address space (RLIMIT_AS) per process."""

    memory_bytes: int = 1024 * _MiB
    cpu_seconds: int = 30
    max_processes: int = 32
    max_open_files: int = 64
    max_file_bytes: int = 16 * _MiB
    # The private tmpfs working dir (root only): bytes and inodes.
    tmp_bytes: int = 64 * _MiB
    tmp_inodes: int = 4096
    # Per code action output (JSON or repr) and print logs, in characters.
    max_output_chars: int = 100_000
    max_log_chars: int = 50_000
    # Cap on each JSON line the parent accepts from the child / sends to it.
    max_message_bytes: int = 4 * _MiB
    max_request_bytes: int = 8 * _MiB
    # Wall clock of one code action (the turn's deadline, if earlier, wins) and of start-up.
    action_timeout: float = 60.0
    start_timeout: float = 20.0
    # Root only: children run as uid_base + n (unique among live children on the host).
    uid_base: int | None = 640_000
    uid_count: int = 4096
    private_mounts: bool = True
    # Each child pid 1 of its own pid namespace (behind a supervisor process), when possible.
    pid_namespace: bool = True
    hide_paths: tuple[str, ...] = field(default_factory=_default_hide_paths)
    keep_paths: tuple[str, ...] = field(default_factory=_default_keep_paths)
    # Fail closed: a child without its isolation (``isolated`` in its ready report) is refused
    # unless this is set (SANDBOX_ALLOW_SHARED_UID=1: children then share the worker's uid
    # and see the host's filesystem; a system check warns).
    allow_shared_uid: bool = field(default_factory=allow_shared_uid_setting)
    python: str = sys.executable
    # Fork children from the worker's zygote (falls back to a direct start if it cannot run).
    fork_server: bool = True


class SandboxError(Exception):
    """The sandbox itself failed: ``reason`` is timeout | killed | died | protocol | start."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


# --------------------------------------------------------------------------- worker side


_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def isolation_failure(report: dict) -> str:
    """Why a child's ready report is not isolated enough, as an operator-facing message."""
    why = report.get("mount_error") or report.get("drop_error") or "no private mount namespace"
    mode = "root" if os.geteuid() == 0 else "non-root (needs unprivileged user namespaces)"
    return (
        f"sandbox isolation unavailable as {mode}: {why}. Refusing to run agent code with the "
        "worker's uid and the host's filesystem; allow the host user namespaces (e.g. sysctl "
        "kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), run the worker as "
        "root, or set SANDBOX_ALLOW_SHARED_UID=1 to accept shared-uid children."
    )


def harden_worker_process(
    limits: SandboxLimits | None = None, check_isolation: bool = True
) -> dict:
    """Call once at worker start. Makes the worker non-dumpable: same-uid processes (children,
    when the worker is not root) can no longer read ``/proc/<worker>/environ`` or ptrace it,
    and no core dump will hold its secrets. Then starts one sandbox child to check that this
    host gives children the isolation they need: raises ``SandboxError`` ("start") if not,
    unless ``limits.allow_shared_uid`` (SANDBOX_ALLOW_SHARED_UID=1). Returns what was
    applied; what the probe found is kept for ``isolation_state()``."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    if not check_isolation:
        return {"root": os.geteuid() == 0, "dumpable": libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)}
    limits = limits or SandboxLimits()
    report, state = _probe_isolation(limits)
    if state["mode"] == "unavailable":
        raise SandboxError("start", state["reason"])
    if state["mode"] == "shared-uid":
        logger.warning("%s (allowed by SANDBOX_ALLOW_SHARED_UID)", state["reason"])
    return {
        "root": os.geteuid() == 0,
        "dumpable": libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0),
        "children_get_dedicated_uid": bool(report.get("dedicated_uid")),
        "isolated": bool(report.get("isolated")),
        "user_ns": bool(report.get("user_ns")),
        "hidden": report.get("hidden", []),
    }


_state_lock = threading.Lock()
_state: dict | None = None


def describe_isolation(report: dict, setup: dict | None, *, allow_shared_uid: bool) -> dict:
    """What a child's ready report (and its setup reply, which says whether the run got its
    own network namespace) tells about this host's sandbox, as plain JSON data.

    ``mode``: ``isolated`` (children get every isolation their mode needs), ``shared-uid``
    (they do not, and SANDBOX_ALLOW_SHARED_UID lets them run anyway: see the module docstring
    for what that exposes) or ``unavailable`` (they do not; the worker refuses to start).
    ``uid_mode``: ``dedicated`` (root worker, a uid per child), ``userns`` (ordinary user, a user
    namespace per child, no capability left) or ``shared`` (the worker's own uid)."""
    isolated = report.get("isolated") is True
    if isolated:
        mode = "isolated"
    elif allow_shared_uid:
        mode = "shared-uid"
    else:
        mode = "unavailable"
    if report.get("dedicated_uid"):
        uid_mode = "dedicated"
    elif report.get("user_ns") and report.get("caps_dropped"):
        uid_mode = "userns"
    else:
        uid_mode = "shared"
    names = (("user", "user_ns"), ("mount", "mount_ns"), ("ipc", "ipc_ns"), ("pid", "pid_ns"))
    namespaces = [name for name, key in names if report.get(key)]
    network = "unknown"
    if setup is not None and "net_isolated" in setup:
        network = "own namespace" if setup["net_isolated"] else "host"
        if setup["net_isolated"]:
            namespaces.append("net")
    return {
        "mode": mode,
        "uid_mode": uid_mode,
        "namespaces": namespaces,
        "network": network,
        "hidden": list(report.get("hidden") or []),
        "root": os.geteuid() == 0,
        "worker_uid": os.geteuid(),
        "allow_shared_uid": allow_shared_uid,
        "reason": None if isolated else isolation_failure(report),
        "checked_at": time.time(),
    }


def _probe_isolation(limits: SandboxLimits) -> tuple[dict, dict]:
    """Start one child (allowed to come up unisolated: it runs no code) and describe what it
    got; remember the description for ``isolation_state()``. Returns (report, state)."""
    global _state
    report: dict = {}
    try:
        with start_sandbox(replace(limits, allow_shared_uid=True)) as probe:
            report = dict(probe.info)
            setup = probe.setup([], [])
        state = describe_isolation(report, setup, allow_shared_uid=limits.allow_shared_uid)
    except SandboxError as exc:
        state = describe_isolation({}, None, allow_shared_uid=False)
        state["reason"] = f"no sandbox child could start: {exc}"
    with _state_lock:
        _state = state
    return report, dict(state)


def isolation_state(limits: SandboxLimits | None = None, *, refresh: bool = False) -> dict:
    """This host's sandbox isolation, for the ops board and the worker heartbeat:
    ``{"mode", "uid_mode", "namespaces", "network", "hidden", "root", "worker_uid",
    "allow_shared_uid", "reason", "checked_at"}`` (``describe_isolation``). The last probe's
    (``harden_worker_process()`` probes at worker start); probes anew (one sandbox child, about
    10 ms) when there was none or ``refresh``. Never raises."""
    with _state_lock:
        if _state is not None and not refresh:
            return dict(_state)
    return _probe_isolation(limits or SandboxLimits())[1]


def _describe_exit(code: int | None, limits: SandboxLimits) -> str:
    if code is None:
        return "sandbox closed its channel"
    if code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            return f"CPU time limit exceeded ({limits.cpu_seconds} s)"
        if sig == signal.SIGKILL:
            return "sandbox was killed (CPU hard limit or out of memory)"
        return f"sandbox crashed ({signal.Signals(sig).name})"
    return f"sandbox exited with code {code}"


def _wait_fd(fd: int, events: int, seconds: float) -> bool:
    """poll(), not select(): worker fds may be above FD_SETSIZE."""
    poller = select.poll()
    poller.register(fd, events | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(seconds * 1000))))


class Sandbox:
    """One child process. Use from one thread at a time; ``kill()`` from any thread."""

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()
        self._kill_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._killed_reason: str | None = None
        self._closed = False
        self._buf = b""
        self._seq = 0
        self._released = False
        self.forked = False
        self.info: dict = {}
        self.uid: int | None = None
        # A zygote.ForkedProcess (forked by the fork server) or a subprocess.Popen (direct).
        self._proc: Any = None
        lim = self.limits
        if os.geteuid() == 0 and lim.uid_base is not None:
            self.uid = UIDS.acquire(lim.uid_base, lim.uid_count)
            if self.uid is None:
                raise SandboxError("start", "no free sandbox uid")
        # The worker's pid in the name: a worker killed outright (SIGKILL, OOM) never
        # removes its children's dirs; the next worker's sweep_stale_workdirs() does.
        self.workdir = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
        keep = set(lim.keep_paths)
        keep.add(str(Path(lim.python).resolve().parent))
        cfg = {
            "workdir": self.workdir,
            "uid": self.uid,
            "parent_pid": os.getpid(),
            "memory_bytes": lim.memory_bytes,
            "cpu_seconds": lim.cpu_seconds,
            "max_processes": lim.max_processes,
            "max_open_files": lim.max_open_files,
            "max_file_bytes": lim.max_file_bytes,
            "tmp_bytes": lim.tmp_bytes,
            "tmp_inodes": lim.tmp_inodes,
            "max_output_chars": lim.max_output_chars,
            "max_log_chars": lim.max_log_chars,
            "max_request_bytes": lim.max_request_bytes,
            "private_mounts": lim.private_mounts,
            "pid_namespace": lim.pid_namespace,
            "hide_paths": list(lim.hide_paths),
            "keep_paths": sorted(keep),
        }
        self.started_at = time.monotonic()
        if lim.fork_server:
            from .zygote import ForkServerError, fork_server

            try:
                server = fork_server(lim.python, lim.start_timeout)
                self.pid, self._wfd, self._rfd, self._proc = server.spawn(cfg, lim.start_timeout)
                self.forked = True
            except ForkServerError as exc:
                logger.warning("sandbox fork server unavailable (%s); starting directly", exc)
        if not self.forked:
            try:
                self._proc = subprocess.Popen(
                    [lim.python, "-I", CHILD_SCRIPT, json.dumps(cfg)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env={},
                    cwd=self.workdir,
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                self._release()
                raise SandboxError("start", f"cannot start sandbox: {exc}") from exc
            self.pid = self._proc.pid
            self._rfd = self._proc.stdout.fileno()
            self._wfd = self._proc.stdin.fileno()
        os.set_blocking(self._wfd, False)

    # ------------------------------------------------------------------ lifecycle

    def wait_ready(self, timeout: float | None = None) -> dict:
        """Block until the child has imported smolagents and applied its limits."""
        deadline = time.monotonic() + (timeout or self.limits.start_timeout)
        with self._io_lock:
            msg = self._recv(deadline)
        if msg.get("op") != "ready" or msg.get("pid") != self.pid:
            self.kill("bad ready message")
            raise SandboxError("protocol", "sandbox sent a bad ready message")
        self.info = msg
        if msg.get("isolated") is not True and not self.limits.allow_shared_uid:
            self.kill("not isolated")
            raise SandboxError("start", isolation_failure(msg))
        self.ready_seconds = time.monotonic() - self.started_at
        return msg

    @property
    def alive(self) -> bool:
        return self._killed_reason is None and self._proc.poll() is None

    def kill(self, reason: str = "killed") -> None:
        """Kill the child's process group (and every process of its uid). Thread-safe,
        idempotent; a ``run_code`` blocked in another thread returns within ~50 ms."""
        with self._kill_lock:
            if self._killed_reason is None:
                self._killed_reason = reason
            # Signal by pid only while it cannot have been reused: before close() reaped it
            # (a forked child: until the zygote may reap it, or the zygote died).
            if not self._released and (not self.forked or self._proc.reserved):
                for kill in (os.killpg, os.kill):  # os.kill: a child forked before its setsid
                    with contextlib.suppress(OSError):
                        kill(self.pid, signal.SIGKILL)
            if self.uid is not None and self.info.get("dedicated_uid", True):
                kill_uid(self.uid)

    def close(self) -> None:
        """Kill, reap and clean up. Each child serves one run; call this when it is done."""
        with self._kill_lock:
            if self._closed:
                return
            self._closed = True
        self.kill("closed")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        # A run_code blocked in another thread notices the kill within ~50 ms; only then
        # close the pipes, so its fds are never closed (and reused) under it.
        if self._io_lock.acquire(timeout=5):
            try:
                if self.forked:
                    for fd in (self._wfd, self._rfd):
                        with contextlib.suppress(OSError):
                            os.close(fd)
                else:
                    for stream in (self._proc.stdin, self._proc.stdout):
                        with contextlib.suppress(OSError):
                            stream.close()
            finally:
                self._io_lock.release()
        with self._kill_lock:
            self._released = True
        if self.forked:
            self._proc.release()  # now the zygote reaps it
        self._release()

    def _release(self) -> None:
        workdir = getattr(self, "workdir", None)
        if workdir:
            try:
                os.rmdir(workdir)  # empty when the child had its own tmpfs
            except OSError:
                threading.Thread(
                    target=shutil.rmtree, args=(workdir, True), daemon=True, name="sandbox-rm"
                ).start()
        if self.uid is not None:
            if kill_uid(self.uid):
                UIDS.release(self.uid)
            else:  # never hand a uid with live processes to another run
                logger.error("sandbox uid %s still has processes; not reused", self.uid)
            self.uid = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ operations

    def setup(
        self,
        tools: list[dict],
        allowed_imports: list[str],
        variables: dict | None = None,
        network: bool = False,
        timeout: float | None = None,
    ) -> dict:
        """Define the run's tools (ToolSpec JSON dicts) and its executor. Raises SandboxError
        on a sandbox failure; returns ``{"ok": False, "error": ...}`` when a tool fails."""
        return self.request(
            {
                "op": "setup",
                "tools": tools,
                "allowed_imports": list(allowed_imports),
                "variables": variables or {},
                "network": bool(network),
            },
            timeout,
        )

    def run_code(self, code: str, timeout: float | None = None) -> dict:
        """Run one code action. Returns ``{"ok": True, "output", "logs", "is_final_answer"}``
        or ``{"ok": False, "error", "logs"}``; raises SandboxError when the sandbox fails
        (timeout: the child is killed)."""
        return self.request({"op": "run", "code": code}, timeout)

    def send_variables(self, variables: dict, timeout: float | None = None) -> dict:
        return self.request({"op": "vars", "variables": variables}, timeout)

    def ping(self, timeout: float | None = None) -> dict:
        return self.request({"op": "ping"}, timeout)

    def request(self, payload: dict, timeout: float | None = None) -> dict:
        timeout = self.limits.action_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, timeout)
        with self._io_lock:
            self._seq += 1
            payload = {**payload, "id": self._seq}
            data = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
            if len(data) > self.limits.max_request_bytes:
                raise SandboxError("protocol", "request too large for the sandbox")
            self._send(data, deadline, timeout)
            msg = self._recv(deadline, timeout)
        if msg.get("id") != self._seq or not isinstance(msg.get("ok"), bool):
            self.kill("protocol error")
            raise SandboxError("protocol", "sandbox sent an unexpected message")
        return msg

    # ------------------------------------------------------------------ I/O

    def _fail_if_killed(self) -> None:
        if self._killed_reason is not None:
            raise SandboxError("killed", f"sandbox was stopped ({self._killed_reason})")

    def _timeout(self, timeout: float | None) -> SandboxError:
        what = f"{timeout:.1f} s" if timeout is not None else "its deadline"
        self.kill(f"wall clock {what} exceeded")
        return SandboxError("timeout", f"code action exceeded the wall clock ({what}); killed")

    def _died(self) -> SandboxError:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=1)
        reason = getattr(self._proc, "detail", None) or _describe_exit(
            self._proc.returncode, self.limits
        )
        self.kill(reason)
        if self._killed_reason not in (None, reason):
            return SandboxError("killed", f"sandbox was stopped ({self._killed_reason})")
        return SandboxError("died", reason)

    def _send(self, data: bytes, deadline: float, timeout: float | None) -> None:
        view = memoryview(data)
        while view:
            self._fail_if_killed()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(timeout)
            if not _wait_fd(self._wfd, select.POLLOUT, min(remaining, 0.05)):
                if self._proc.poll() is not None:
                    raise self._died()
                continue
            try:
                sent = os.write(self._wfd, view)
            except BlockingIOError:
                continue
            except OSError as exc:  # EPIPE: the child is gone
                raise self._died() from exc
            view = view[sent:]

    def _recv(self, deadline: float, timeout: float | None = None) -> dict:
        cap = self.limits.max_message_bytes
        while True:
            newline = self._buf.find(b"\n")
            if newline >= 0:
                line, self._buf = self._buf[:newline], self._buf[newline + 1 :]
                try:
                    msg = json.loads(line)
                except (ValueError, UnicodeDecodeError) as exc:
                    self.kill("protocol error")
                    raise SandboxError("protocol", "sandbox sent invalid JSON") from exc
                if not isinstance(msg, dict):
                    self.kill("protocol error")
                    raise SandboxError("protocol", "sandbox sent a non-object message")
                return msg
            if len(self._buf) > cap:
                self.kill("message too large")
                raise SandboxError("protocol", f"sandbox message over {cap} bytes; killed")
            self._fail_if_killed()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(timeout)
            if not _wait_fd(self._rfd, select.POLLIN, min(remaining, 0.05)):
                # A forked grandchild may hold the pipe open after the child died.
                if self._proc.poll() is not None:
                    raise self._died()
                continue
            try:
                chunk = os.read(self._rfd, 1 << 16)
            except OSError as exc:
                raise self._died() from exc
            if not chunk:
                self._fail_if_killed()
                raise self._died()
            self._buf += chunk


WORKDIR_PREFIX = "agentbay-sbx-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def sweep_stale_workdirs(directory: str | None = None) -> int:
    """Remove the sandbox work dirs (`agentbay-sbx-<worker pid>-…` in the temp directory)
    left by workers that are no longer running; how many. Called when a worker starts. A
    dir whose worker pid is alive (this worker, another one, or a process that reused the
    pid) is kept."""
    directory = directory or tempfile.gettempdir()
    removed = 0
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.startswith(WORKDIR_PREFIX):
                continue
            pid = entry.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += not os.path.exists(entry.path)
    return removed


def start_sandbox(limits: SandboxLimits | None = None) -> Sandbox:
    """A new child, ready to serve (closed again if it fails to come up)."""
    sandbox = Sandbox(limits)
    try:
        sandbox.wait_ready()
    except BaseException:
        sandbox.close()
        raise
    return sandbox
