"""Isolating the child process: steps 2-4 of its start-up, and the network at setup.

Nothing here runs untrusted code; it prepares the process that will. Each step as root is
best-effort and reported (the ready message carries the report), so the worker and the tests
can see what a child really got.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_BIND = 4096
_MS_MOVE = 8192
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
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


def _isolate_mounts(cfg: dict, report: dict) -> str:
    """Root only: private mounts; returns the working directory to use."""
    workdir = cfg["workdir"]
    uid = cfg.get("uid")
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    _mount(
        "tmpfs",
        workdir,
        "tmpfs",
        0,
        f"size={cfg['tmp_bytes']},nr_inodes={cfg['tmp_inodes']},mode=0700{owner}",
    )
    report["private_tmp"] = True
    # Hide the configured paths under empty, root-owned tmpfs; keep the interpreter visible.
    keep = [os.path.realpath(p) for p in cfg.get("keep_paths", [])]
    hidden = []
    for index, path in enumerate(cfg.get("hide_paths", [])):
        path = os.path.realpath(path)
        if not os.path.isdir(path) or path == "/" or workdir.startswith(path + "/"):
            continue
        inner = [k for k in keep if k.startswith(path + "/")]
        staged = []
        for n, k in enumerate(inner):
            stage = os.path.join(workdir, f".keep{index}_{n}")
            os.mkdir(stage)
            _mount(k, stage, None, _MS_BIND | _MS_REC, None)
            staged.append((stage, k))
        _mount("tmpfs", path, "tmpfs", 0, "size=1m,nr_inodes=256,mode=0755")
        for stage, k in staged:
            os.makedirs(k, exist_ok=True)
            _mount(stage, k, None, _MS_MOVE, None)
            os.rmdir(stage)
        hidden.append(path)
    report["hidden"] = hidden
    # One budget for every world-writable scratch place: bind the working tmpfs there.
    for shared in ("/var/tmp", "/dev/shm", "/tmp"):  # /tmp last: it covers workdir
        if os.path.isdir(shared) and not os.path.islink(shared):
            _mount(workdir, shared, None, _MS_BIND, None)
    os.chdir("/tmp")
    return "/tmp"


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


def isolate(cfg: dict) -> tuple[str, dict]:
    """Steps 3-4: mounts and uid (as root), no_new_privs, parent-death signal, rlimits.
    Returns the working directory and the report for the ready message."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.environ.clear()
    report = {"uid": os.getuid(), "private_tmp": False, "dedicated_uid": False}
    workdir = cfg["workdir"]
    if os.geteuid() == 0 and cfg.get("uid") is not None:
        if cfg.get("private_mounts", True):
            try:
                workdir = _isolate_mounts(cfg, report)
            except OSError as exc:
                report["mount_error"] = str(exc)
        if not report["private_tmp"]:
            os.chown(workdir, cfg["uid"], cfg["uid"])
            os.chmod(workdir, 0o700)
        try:
            _drop_privileges(int(cfg["uid"]), report)
            report["dedicated_uid"] = True
        except OSError as exc:
            report["drop_error"] = str(exc)
    os.chdir(workdir)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # after setuid, which resets it
    if os.getppid() != int(cfg["parent_pid"]):
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
