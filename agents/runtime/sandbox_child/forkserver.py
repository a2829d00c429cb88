"""The fork server (zygote) inside the child's interpreter: one process per worker that
imports smolagents once and forks a sandbox child per request.

The worker side (starting it, asking it for children, reaping) is ``agents.runtime.zygote``.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import random
import resource
import select
import signal
import socket
import sys

from .channel import Channel, null_stdio
from .isolation import (
    PR_SET_DUMPABLE,
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    import_trusted,
    libc,
)
from .serve import serve


def _open_fds() -> list[int]:
    return [int(name) for name in os.listdir("/proc/self/fd")]


def _forked_child(cfg: dict, fds: list[int], ctl: socket.socket) -> None:
    """In a child just forked by the zygote: shed everything inherited, then ``serve``.

    Inherited and dropped here: the zygote's session and process group (setsid), its signal
    mask, every fd but the two protocol pipes (the control socket, the pidfds and status pipes
    of sibling children, 0/1/2 shared with the zygote), its random state (reseeded)."""
    os.setsid()
    libc.prctl(PR_SET_NAME, b"agentbay-sbx", 0, 0, 0)  # argv stays the zygote's
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    ctl.detach()  # the socket object must never close a reused fd number later
    rfd, wfd = fds[0], fds[1]
    for fd in _open_fds():
        if fd not in (rfd, wfd):
            with contextlib.suppress(OSError):
                os.close(fd)
    # The protocol on private fds 3 and 4 (not inherited across exec), stdio on /dev/null.
    high_r = fcntl.fcntl(rfd, fcntl.F_DUPFD_CLOEXEC, 100)
    high_w = fcntl.fcntl(wfd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(rfd)
    os.close(wfd)
    null_stdio()
    os.dup2(high_r, 3, inheritable=False)
    os.dup2(high_w, 4, inheritable=False)
    os.close(high_r)
    os.close(high_w)
    random.seed()  # also reseeded by random's own at-fork hook; never share the zygote's
    channel = Channel(3, 4, int(cfg["max_request_bytes"]))
    serve(cfg, channel)


def _exit_code(info) -> int:
    """Popen-style: the exit status, or minus the signal that killed the child."""
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status


class _Zygote:
    """The fork server's state. Single-threaded by construction: one poll loop, no threads.

    Per live child it holds a pidfd (readable when the child exits) and the write end of the
    child's status pipe. When the child exits, the exit code is written there but the child is
    not reaped: its pid (and so its process group) stays reserved until the worker closes its
    end of the status pipe, so the worker's ``killpg(pid)`` can never hit a reused pid."""

    def __init__(self, ctl: socket.socket):
        self.ctl = ctl
        self.ctl_fd = ctl.fileno()
        self.poller = select.poll()
        self.poller.register(self.ctl_fd, select.POLLIN)
        self.children: dict[int, dict] = {}
        self.by_fd: dict[int, tuple[str, int]] = {}

    def _reply(self, msg: dict) -> None:
        self.ctl.sendall(json.dumps(msg, separators=(",", ":")).encode())

    def loop(self) -> None:
        while True:
            for fd, events in self.poller.poll():
                if fd == self.ctl_fd:
                    if events & select.POLLIN:
                        self._request()
                    elif events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                        os._exit(0)
                    continue
                kind, pid = self.by_fd.get(fd, (None, None))
                if kind == "pidfd":
                    self._exited(pid)
                elif kind == "status":
                    self._released(pid)

    def _request(self) -> None:
        try:
            msg, fds, flags, _addr = socket.recv_fds(self.ctl, 1 << 16, 8)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)  # the worker is gone (its children die with us: PDEATHSIG)
        try:
            req = json.loads(msg)
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 3:
                raise ValueError("bad fork request")
            if req.get("op") != "fork" or not isinstance(req.get("cfg"), dict):
                raise ValueError("unknown request")
        except (ValueError, UnicodeDecodeError) as exc:
            for fd in fds:
                os.close(fd)
            self._reply({"id": None, "error": str(exc)})
            return
        if len(os.listdir("/proc/self/task")) != 1:  # never fork a multi-threaded process
            self._reply({"id": req.get("id"), "error": "fork server is not single-threaded"})
            os._exit(5)
        cfg = dict(req["cfg"], parent_pid=os.getpid())
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            self._reply({"id": req.get("id"), "error": f"fork failed: {exc}"})
            return
        if pid == 0:
            try:
                _forked_child(cfg, fds, self.ctl)
            finally:
                os._exit(70)
        os.close(fds[0])
        os.close(fds[1])
        status_fd = fds[2]
        os.set_blocking(status_fd, False)
        pidfd = os.pidfd_open(pid)
        self.children[pid] = {"pidfd": pidfd, "status": status_fd, "code": None}
        self.by_fd[pidfd] = ("pidfd", pid)
        self.by_fd[status_fd] = ("status", pid)
        self.poller.register(pidfd, select.POLLIN)
        self.poller.register(status_fd, 0)  # only POLLERR: the worker closed its end
        self._reply({"id": req.get("id"), "pid": pid})

    def _exited(self, pid: int) -> None:
        child = self.children[pid]
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None or info.si_pid == 0:
            return
        child["code"] = _exit_code(info)
        self.poller.unregister(child["pidfd"])
        del self.by_fd[child["pidfd"]]
        os.close(child["pidfd"])
        child["pidfd"] = None
        if child["status"] is None:
            self._reap(pid)
            return
        with contextlib.suppress(OSError):  # the worker closed its end: POLLERR follows
            os.write(child["status"], b"%d\n" % child["code"])

    def _released(self, pid: int) -> None:
        child = self.children[pid]
        self.poller.unregister(child["status"])
        del self.by_fd[child["status"]]
        os.close(child["status"])
        child["status"] = None
        if child["code"] is not None:
            self._reap(pid)
        else:  # the worker let go of a live child: nobody can talk to it any more
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(pid, signal.SIGKILL)

    def _reap(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        del self.children[pid]


def zygote_main() -> None:
    """``python -I sandbox_child --zygote '<config json>'``: the fork server.

    Started like a direct child (empty environment, own session, by a worker thread that lives
    as long as the worker), with its control socket (one end of a SOCK_SEQPACKET socketpair,
    never named in the filesystem) on fd 0. It imports smolagents once, then forks one child
    per request. It runs no untrusted code and never sees run data: a request carries only the
    child's config (limits, uid, work dir) and three fds (the child's request and response
    pipes, and the write end of its status pipe)."""
    zcfg = json.loads(sys.argv[2])
    ctl_fd = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    null_stdio()
    import_trusted()
    os.chdir("/")
    libc.prctl(PR_SET_NAME, b"agentbay-zygote", 0, 0, 0)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # /proc/<zygote>/* root-owned, no ptrace
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != int(zcfg["parent_pid"]):
        os._exit(3)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a closed status pipe is EPIPE, not death
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 2 fds per live child
    ctl = socket.socket(fileno=ctl_fd)
    gc.collect()
    gc.freeze()  # children's collections never touch (copy) the zygote's objects
    ctl.sendall(
        json.dumps(
            {"op": "ready", "pid": os.getpid(), "threads": len(os.listdir("/proc/self/task"))}
        ).encode()
    )
    _Zygote(ctl).loop()
