"""Worker side of the sandbox fork server (zygote): cheap sandbox children.

A sandbox child that starts as a fresh interpreter spends ~0.35 s of CPU importing smolagents.
Instead, each worker process keeps one **zygote**: ``python -I sandbox_child --zygote``,
started like a child (empty environment, own session, closed fds, parent-death signal), that
imports smolagents once, holds no secrets and runs no untrusted code. Per sandbox it forks a
child, which then isolates itself exactly like a directly started child (dedicated uid, mount
namespace, pid namespace behind a supervisor, rlimits, no_new_privs, PDEATHSIG): see
``sandbox_child.forkserver._forked_child`` and ``sandbox_child.isolation``.

Processes, fds and uids (worker as root)::

    worker (uid 0, secrets in env)
     |-- keeper thread "sandbox-zygote" -- Popen --> zygote (uid 0, env {}, non-dumpable,
     |                                                single-threaded, PDEATHSIG=KILL)
     |   ctl: SOCK_SEQPACKET socketpair  <==========> fd 0 -> private fd
     |        request: {"op": "fork", cfg} + SCM_RIGHTS [req_r, resp_w, status_w]
     |        reply:   {"pid": n}
     |-- Sandbox: req_w, resp_r, status_r            +-- fork --> child (setsid, fds 3/4 =
     |   (exit code arrives on status_r; closing it      req_r/resp_w only, PDEATHSIG=KILL
     |    lets the zygote reap the zombie)               from the zygote): the supervisor
                                                         +-- fork --> pid 1 of its own pid
                                                             ns (uid 640000+n or own userns,
                                                             own mount/net ns, rlimits); its
                                                             exit status is the supervisor's

- The zygote is the children's parent and reaps them, but only once the worker has closed the
  child's status pipe: until then the exited child stays a zombie, so its pid and process group
  cannot be reused under the worker's ``killpg``.
- Death: worker dies -> zygote (PDEATHSIG of the keeper thread, and EOF on ctl) -> every child
  (PDEATHSIG of the zygote). A dead zygote is restarted by the keeper thread; its children die
  with it and their runs see a ``died`` SandboxError (the executor restarts them once).
- A child never holds the control socket (closed right after fork), so it cannot ask the zygote
  for anything; in its pid namespace it cannot even name the zygote (nor, as root, signal or
  ptrace it: dedicated uid).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import threading
import time

logger = logging.getLogger(__name__)

_STATUS_LOST = -int(signal.SIGKILL)


class ForkServerError(Exception):
    """The fork server could not provide a child (not started, died, refused)."""


class _ZygoteGone(ForkServerError):
    """The zygote died under a request: the keeper restarts it, the request can be retried."""


def _wait_readable(fd: int, seconds: float) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(seconds * 1000))))


class ForkedProcess:
    """A Popen-like handle (``pid``, ``poll()``, ``wait()``, ``returncode``) of a child forked
    by the zygote. The exit code arrives as one line on the status pipe; EOF without one means
    the zygote died (and the child with it, by its parent-death signal)."""

    def __init__(self, pid: int, status_fd: int):
        self.pid = pid
        self.returncode: int | None = None
        self.detail: str | None = None
        self._status_fd: int | None = status_fd
        self._lock = threading.Lock()
        os.set_blocking(status_fd, False)

    @property
    def reserved(self) -> bool:
        """True while the pid cannot be reused (alive, or an unreaped zombie)."""
        return self._status_fd is not None and self.detail is None

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is not None or self._status_fd is None:
                return self.returncode
            try:
                data = os.read(self._status_fd, 64)
            except BlockingIOError:
                return None
            except OSError:
                data = b""
            try:
                self.returncode = int(data.strip())
            except ValueError:
                self.returncode = _STATUS_LOST
                self.detail = "the sandbox fork server died"
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired("sandbox child", timeout)
            fd = self._status_fd
            if fd is None:
                break
            _wait_readable(fd, min(remaining, 0.05))
        return self.returncode

    def release(self) -> None:
        """Close the status pipe: the zygote reaps the child (killing it if still alive)."""
        with self._lock:
            fd, self._status_fd = self._status_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self):
        self.release()


class ForkServer:
    """One zygote for this worker process and interpreter, kept alive by a keeper thread.

    The keeper thread starts the zygote (so the zygote's parent-death signal is tied to a
    thread that lives as long as the process), waits for it to exit and starts a new one."""

    def __init__(self, python: str, start_timeout: float = 20.0):
        from .sandbox import CHILD_SCRIPT

        self.python = python
        self.script = CHILD_SCRIPT
        self.start_timeout = start_timeout
        self.owner_pid = os.getpid()
        self.pid: int | None = None
        self.starts = 0
        self.forks = 0
        self._cond = threading.Condition()
        self._req_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._wanted = True  # after a failed start, retry only when someone asks again
        self._closed = False
        self._seq = 0
        self._thread = threading.Thread(target=self._keep, daemon=True, name="sandbox-zygote")
        self._thread.start()

    # ------------------------------------------------------------------ keeper thread

    def _start(self) -> tuple[subprocess.Popen, socket.socket]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [
                    self.python,
                    "-I",
                    self.script,
                    "--zygote",
                    json.dumps({"parent_pid": os.getpid()}),
                ],
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={},
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            if not _wait_readable(ours.fileno(), self.start_timeout):
                raise ForkServerError("fork server did not start in time")
            data = ours.recv(1 << 16)
            msg = json.loads(data) if data else {}
            if msg.get("op") != "ready" or msg.get("pid") != proc.pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
                raise ForkServerError(f"fork server failed to start (exit {proc.returncode})")
            if msg.get("threads") != 1:
                raise ForkServerError("fork server is not single-threaded")
        except BaseException:
            proc.kill()
            proc.wait()
            ours.close()
            raise
        return proc, ours

    def _keep(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
            try:
                proc, sock = self._start()
            except Exception as exc:  # noqa: BLE001 - reported to spawn(); retried
                logger.warning("sandbox fork server: start failed: %s", exc)
                with self._cond:
                    self._failures += 1
                    self._last_error = str(exc)
                    self._wanted = False
                    self._cond.notify_all()
                    # Meanwhile sandboxes start directly (spawn() raises at once).
                    backoff = time.monotonic() + min(5.0, 0.2 * self._failures)
                    while not self._closed and (not self._wanted or time.monotonic() < backoff):
                        self._cond.wait(max(0.05, backoff - time.monotonic()))
                continue
            with self._cond:
                self._proc, self._sock, self.pid = proc, sock, proc.pid
                self._failures, self._last_error = 0, None
                self.starts += 1
                self._cond.notify_all()
            code = proc.wait()
            # A request in flight sees EOF and lets go of the lock; then close the socket.
            with self._req_lock, self._cond:
                self._proc, self._sock, self.pid = None, None, None
                sock.close()
                self._cond.notify_all()
                if not self._closed:
                    logger.warning("sandbox fork server exited (%s); restarting", code)

    # ------------------------------------------------------------------ API

    def wait_ready(self, timeout: float) -> int:
        """Block until a zygote is up; its pid. Raises ForkServerError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._sock is None:
                if self._closed:
                    raise ForkServerError("fork server is shut down")
                if self._last_error is not None:
                    self._wanted = True
                    self._cond.notify_all()
                    raise ForkServerError(self._last_error)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ForkServerError("fork server not ready in time")
                self._cond.wait(remaining)
            return self.pid

    def spawn(self, cfg: dict, timeout: float) -> tuple[int, int, int, ForkedProcess]:
        """Fork a sandbox child. Returns (pid, request fd, response fd, process handle)."""
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            self.wait_ready(max(0.0, deadline - time.monotonic()))
            try:
                return self._spawn(cfg, deadline)
            except _ZygoteGone:
                if attempt == 2 or time.monotonic() >= deadline:
                    raise
                with self._cond:  # let the keeper notice the death before waiting again
                    self._cond.wait_for(lambda: self._sock is None or self._closed, 1.0)
        raise AssertionError("unreachable")

    def _spawn(self, cfg: dict, deadline: float) -> tuple[int, int, int, ForkedProcess]:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        status_r, status_w = os.pipe()
        theirs = [req_r, resp_w, status_w]
        ours = [req_w, resp_r, status_r]
        try:
            try:
                pid = self._request(cfg, theirs, deadline)
            finally:
                for fd in theirs:
                    os.close(fd)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        self.forks += 1
        return pid, req_w, resp_r, ForkedProcess(pid, status_r)

    def _request(self, cfg: dict, fds: list[int], deadline: float) -> int:
        with self._req_lock:
            sock, proc = self._sock, self._proc
            if sock is None:
                raise _ZygoteGone("fork server is restarting")
            self._seq += 1
            seq = self._seq
            data = json.dumps({"op": "fork", "id": seq, "cfg": cfg}).encode()
            try:
                socket.send_fds(sock, [data], fds)
                if not _wait_readable(sock.fileno(), max(0.0, deadline - time.monotonic())):
                    # A stuck zygote would answer this request later, out of step: replace it.
                    proc.kill()
                    raise ForkServerError("fork server did not answer in time")
                reply = sock.recv(1 << 16)
            except OSError as exc:
                raise _ZygoteGone(f"fork server is gone: {exc}") from exc
        if not reply:
            raise _ZygoteGone("fork server died")
        msg = json.loads(reply)
        if msg.get("id") != seq:
            proc.kill()
            raise ForkServerError("fork server answered out of step")
        if "error" in msg:
            raise ForkServerError(f"fork server refused: {msg['error']}")
        return int(msg["pid"])

    def close(self) -> None:
        """Stop the zygote (its children die with it) and the keeper thread."""
        with self._cond:
            self._closed = True
            proc = self._proc
            self._cond.notify_all()
        if proc is not None:
            proc.kill()
        self._thread.join(timeout=10)


_servers: dict[str, ForkServer] = {}
_servers_lock = threading.Lock()


def fork_server(python: str, start_timeout: float = 20.0) -> ForkServer:
    """The fork server of this process for ``python`` (started on first use)."""
    with _servers_lock:
        server = _servers.get(python)
        if server is None or server.owner_pid != os.getpid():  # never share across fork()
            server = _servers[python] = ForkServer(python, start_timeout)
        return server


def shutdown_fork_servers() -> None:
    """Stop every fork server of this process (tests; the worker just exits)."""
    with _servers_lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        if server.owner_pid == os.getpid():
            server.close()
