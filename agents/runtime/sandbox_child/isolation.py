"""Isolating the child process: steps 2-4 of its start-up, and the network at setup.

Nothing here runs untrusted code; it prepares the process that will. Each step is reported in
the ready message (``isolated``, ``mount_ns``, ``user_ns``, ``ipc_ns``, ``pid_ns``,
``dedicated_uid``, ``hidden``, and ``mount_error`` / ``drop_error`` when a step failed), so the
worker can refuse a child that did not get the isolation its mode needs (``Sandbox.wait_ready``),
say what this host gives (``sandbox.isolation_state``) and the tests can see what a child really
got.

The mount namespace comes from the kernel directly (no bubblewrap: one fewer binary to trust
and install, and no exec, so a forked child keeps the zygote's warm interpreter):
- as root: ``unshare(CLONE_NEWNS)``, the mounts, then ``setuid`` to the dedicated uid, which
  drops every capability, so no mount can be undone;
- not root: ``unshare(CLONE_NEWUSER | CLONE_NEWNS)`` with the child's own uid/gid mapped to
  themselves (setgroups denied), the mounts, then every capability dropped (``capset`` to
  nothing, bounding set emptied; ``no_new_privs`` keeps them from coming back by exec). The
  mounts inherited from the host are locked by the kernel (they came from a more privileged
  user namespace) and the child has no capability left to unmount its own.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import signal

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_BIND = 4096
_MS_MOVE = 8192
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_MS_REMOUNT = 32
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
PR_CAPBSET_DROP = 24
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def import_trusted() -> None:
    """The trusted, slow imports, before anything untrusted runs; then no environment at all.

    ``smolagents.remote_executors`` calls ``dotenv.load_dotenv()`` at import, which walks up
    from the installed package (a venv inside the project) to a project ``.env``: disarm it
    for the import, so no secret is ever read into this process (a forked child would inherit
    the freed strings), then restore it for tool code."""
    try:
        import dotenv
    except ImportError:
        dotenv = None
    real = getattr(dotenv, "load_dotenv", None)
    if dotenv is not None:
        dotenv.load_dotenv = lambda *args, **kwargs: False
    try:
        import smolagents  # noqa: F401
        from smolagents import default_tools, local_python_executor, tools  # noqa: F401
    finally:
        if dotenv is not None:
            dotenv.load_dotenv = real
    os.environ.clear()


def _write(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _enter_user_namespace(report: dict) -> None:
    """Not root: a user namespace mapping this uid/gid to themselves, with a mount namespace
    (and an ipc namespace: no System V IPC objects shared with the host).

    The /proc/self/{uid,gid}_map files of a non-dumpable process (a child forked from the
    zygote) belong to root: be dumpable just while writing them."""
    uid, gid = os.geteuid(), os.getegid()
    _check(
        libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWIPC), "unshare(NEWUSER|NEWNS|NEWIPC)"
    )
    dumpable = libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    finally:
        libc.prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0)
    report["user_ns"] = True
    report["ipc_ns"] = True


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_capabilities(report: dict) -> None:
    """Empty the bounding set, then every capability set (the user namespace's included)."""
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:
        cap += 1
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    with open("/proc/self/status") as fh:
        caps = {k: v.strip() for k, v in (ln.split(":", 1) for ln in fh if ln.startswith("Cap"))}
    if any(int(caps.get(k, "1"), 16) for k in ("CapEff", "CapPrm", "CapBnd")):
        raise OSError(0, f"capabilities remain: {caps}")
    report["caps_dropped"] = True


def _remount_read_only(path: str) -> None:
    """Make a bind mount read-only, keeping the flags the kernel locks in a user namespace
    (noexec, atime: a remount that would clear them fails)."""
    have = os.statvfs(path).f_flag
    flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
    for st_flag, ms_flag in ((8, _MS_NOEXEC), (1024, 1024), (2048, 2048), (4096, 1 << 21)):
        if have & st_flag:  # ST_NOEXEC, ST_NOATIME, ST_NODIRATIME, ST_RELATIME
            flags |= ms_flag
    _mount(None, path, None, flags, None)


def _isolate_mounts(cfg: dict, report: dict) -> str:
    """In a fresh mount namespace (already entered): private mounts; returns the working
    directory to use."""
    workdir = cfg["workdir"]
    uid = cfg.get("uid")
    owner = f",uid={uid},gid={uid}" if uid is not None and os.geteuid() == 0 else ""
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    _mount(
        "tmpfs",
        workdir,
        "tmpfs",
        _MS_NOSUID | _MS_NODEV,
        f"size={cfg['tmp_bytes']},nr_inodes={cfg['tmp_inodes']},mode=0700{owner}",
    )
    report["private_tmp"] = True
    # Hide the configured paths under empty tmpfs; keep the interpreter visible, read-only.
    keep = [os.path.realpath(p) for p in cfg.get("keep_paths", [])]
    hidden: list[str] = []
    for index, path in enumerate(cfg.get("hide_paths", [])):
        path = os.path.realpath(path)
        if (
            not os.path.isdir(path)
            or path == "/"
            or path in hidden
            or any(path.startswith(h + "/") for h in hidden)
            or workdir.startswith(path + "/")
        ):
            continue
        inner = [k for k in keep if k.startswith(path + "/") and os.path.isdir(k)]
        staged = []
        for n, k in enumerate(inner):
            stage = os.path.join(workdir, f".keep{index}_{n}")
            os.mkdir(stage)
            _mount(k, stage, None, _MS_BIND | _MS_REC, None)
            staged.append((stage, k))
        _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,nr_inodes=256,mode=0755")
        for stage, k in staged:
            os.makedirs(k, exist_ok=True)
            _mount(stage, k, None, _MS_MOVE, None)
            os.rmdir(stage)
            _remount_read_only(k)  # no .pth or module planted in the interpreter or the venv
        hidden.append(path)
    report["hidden"] = hidden
    # The interpreter and the venv read-only wherever they are, not only inside hidden paths.
    for k in keep:
        if os.path.isdir(k) and not any(k.startswith(h + "/") for h in hidden):
            _mount(k, k, None, _MS_BIND | _MS_REC, None)
            _remount_read_only(k)
    # One budget for every world-writable scratch place: bind the working tmpfs there.
    for shared in ("/var/tmp", "/dev/shm", "/tmp"):  # /tmp last: it covers workdir
        if os.path.isdir(shared) and not os.path.islink(shared):
            _cover_keeping(workdir, shared, keep)
    os.chdir("/tmp")
    return "/tmp"


def _cover_keeping(workdir: str, shared: str, keep: list[str]) -> None:
    """Bind the working tmpfs over `shared`, but keep the interpreter and venv under it
    visible (read-only): a checkout under /tmp (CI clones there) runs its venv from there,
    and the child still imports from it after isolation. Each kept directory is held by an
    O_PATH descriptor across the bind that shadows it, then bound back from that descriptor."""
    held = [
        (os.open(k, os.O_PATH | os.O_DIRECTORY), k)
        for k in keep
        if k.startswith(shared + "/") and os.path.isdir(k)
    ]
    try:
        _mount(workdir, shared, None, _MS_BIND, None)
        for fd, k in held:
            os.makedirs(k, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", k, None, _MS_BIND | _MS_REC, None)
            _remount_read_only(k)
    finally:
        for fd, _k in held:
            os.close(fd)


def _drop_privileges(uid: int, report: dict) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    report["uid"] = os.getuid()


def _count_user_tasks(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as fh:
                status = fh.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _apply_limits(cfg: dict, report: dict) -> None:
    def setlimit(res: int, soft: int, hard: int | None = None) -> None:
        hard = soft if hard is None else hard
        _cur_soft, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY and os.geteuid() != 0:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used_cpu = int(usage.ru_utime + usage.ru_stime) + 1
    cpu = used_cpu + int(cfg["cpu_seconds"])
    nproc = int(cfg["max_processes"])
    if not report.get("dedicated_uid"):
        # RLIMIT_NPROC counts every task of the uid: with a shared uid, allow headroom only.
        nproc += _count_user_tasks(os.getuid())
    setlimit(resource.RLIMIT_CORE, 0)
    setlimit(resource.RLIMIT_CPU, cpu, cpu + 1)  # SIGXCPU at soft, SIGKILL at hard
    setlimit(resource.RLIMIT_NPROC, nproc)
    setlimit(resource.RLIMIT_NOFILE, int(cfg["max_open_files"]))
    setlimit(resource.RLIMIT_FSIZE, int(cfg["max_file_bytes"]))
    setlimit(resource.RLIMIT_AS, int(cfg["memory_bytes"]))
    report["rlimits"] = {"cpu": cpu, "nproc": nproc}


def _enter_pid_namespace(cfg: dict, report: dict) -> None:
    """Become pid 1 of a fresh pid namespace, best-effort (reported as ``pid_ns``).

    ``CLONE_NEWPID`` applies to the caller's next child, so this process forks once more: it
    stays outside as a supervisor (the pid the worker knows, signals and gets the exit status
    of), holding nothing of the run, and the new child, pid 1 inside, goes on to serve. When
    pid 1 exits, the kernel kills every process left in the namespace: nothing a run forks
    (double forks and setsid included) outlives it. Inside, the run sees only its own
    processes (a fresh /proc), so it cannot name, signal or inspect the worker, the fork
    server or other runs, whatever its uid."""
    try:
        _check(libc.unshare(_CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    except OSError as exc:
        report["pid_ns_error"] = str(exc)
        return
    alive_r, alive_w = os.pipe()
    outer = os.getpid()
    pid = os.fork()
    if pid:
        os.close(alive_r)
        _supervise(pid, alive_w, int(cfg["cpu_seconds"]))  # never returns
    os.close(alive_w)
    # pid 1 now. The supervisor's death kills it (it could setsid out of the worker's killpg).
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    _exit_if_supervisor_gone(alive_r)
    try:
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    except OSError as exc:
        report["proc_error"] = str(exc)
    # pid 1 ignores signals it has no handler for, the RLIMIT_CPU soft limit's SIGXCPU too:
    # exit at once on it (a C handler: it runs even in a long C call), status SIGXCPU.
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.signal(int(signal.SIGXCPU), ctypes.cast(libc._exit, ctypes.c_void_p).value)
    report["pid_ns"] = True
    report["pid"] = outer  # the worker's name for this child: the supervisor
    report["_alive_fd"] = alive_r


def _exit_if_supervisor_gone(alive_r: int) -> None:
    """getppid() is 0 in a pid namespace: the supervisor's liveness is its end of a pipe."""
    poller = select.poll()
    poller.register(alive_r, select.POLLIN)
    if poller.poll(0):  # EOF: the supervisor is gone (PDEATHSIG was not yet armed)
        os._exit(3)


def _supervise(pid: int, alive_w: int, cpu_seconds: int) -> None:
    """The supervisor outside the pid namespace: wait for pid 1, exit as it did."""
    # The protocol pipes are pid 1's alone. (Not /proc/self/fd: pid 1 mounts its own /proc
    # in the mount namespace they share, where this process has no entry.)
    os.closerange(3, alive_w)
    os.closerange(alive_w + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0] + 1)
    libc.prctl(PR_SET_NAME, b"agentbay-sbx-sup", 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    while True:
        try:
            _pid, status, usage = os.wait4(pid, 0)
            break
        except ChildProcessError:
            os._exit(70)
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        cpu = usage.ru_utime + usage.ru_stime
        if code != int(signal.SIGXCPU) or cpu < cpu_seconds:
            os._exit(code)
        sig = int(signal.SIGXCPU)  # pid 1's SIGXCPU handler: report it as the signal
    else:
        sig = os.WTERMSIG(status)
    if sig not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    os._exit(128 + sig)


def isolate(cfg: dict) -> tuple[str, dict]:
    """Steps 3-4: mounts and uid, no_new_privs, parent-death signal, rlimits.
    Returns the working directory and the report for the ready message.

    ``isolated`` in the report is what the worker requires (unless shared-uid children are
    allowed): a private mount namespace hiding the host's sockets and private directories,
    and a process that can no longer undo it (a dedicated uid as root; capabilities dropped
    in its own user namespace otherwise)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.environ.clear()
    report = {
        "uid": os.getuid(),
        "private_tmp": False,
        "dedicated_uid": False,
        "mount_ns": False,
        "user_ns": False,
        "ipc_ns": False,
        "pid_ns": False,
        "isolated": False,
    }
    workdir = cfg["workdir"]
    as_root = os.geteuid() == 0 and cfg.get("uid") is not None
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != int(cfg["parent_pid"]):
        os._exit(3)  # the spawning thread (or the fork server) is already gone
    if cfg.get("private_mounts", True):
        try:
            if as_root:
                _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC), "unshare(NEWNS|NEWIPC)")
                report["ipc_ns"] = True
            else:
                _enter_user_namespace(report)
            workdir = _isolate_mounts(cfg, report)
            report["mount_ns"] = True
        except OSError as exc:
            report["mount_error"] = str(exc)
    if report["mount_ns"] and cfg.get("pid_namespace", True):
        _enter_pid_namespace(cfg, report)  # from here on, pid 1 of its own pid namespace
    if as_root:
        if not report["private_tmp"]:
            os.chown(workdir, cfg["uid"], cfg["uid"])
            os.chmod(workdir, 0o700)
        try:
            _drop_privileges(int(cfg["uid"]), report)
            report["dedicated_uid"] = True
        except OSError as exc:
            report["drop_error"] = str(exc)
    elif report["user_ns"]:
        try:
            _drop_capabilities(report)
        except OSError as exc:
            report["drop_error"] = str(exc)
    report["isolated"] = bool(
        report["mount_ns"]
        and "drop_error" not in report
        and (report["dedicated_uid"] or report.get("caps_dropped"))
    )
    os.chdir(workdir)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # after setuid, which resets it
    if report["pid_ns"]:
        alive_r = report.pop("_alive_fd")
        _exit_if_supervisor_gone(alive_r)
        os.close(alive_r)
    elif os.getppid() != int(cfg["parent_pid"]):
        os._exit(3)  # the spawning thread (or the fork server) is already gone
    _apply_limits(cfg, report)
    report["env_keys"] = len(os.environ)
    return workdir, report


def isolate_network(report: dict) -> None:
    """Unprivileged user + network namespace: only a down loopback. Best-effort."""
    try:
        _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET), "unshare(NEWUSER|NEWNET)")
        report["net_isolated"] = True
    except OSError as exc:
        report["net_isolated"] = False
        report["net_error"] = str(exc)
