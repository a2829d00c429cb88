"""Sandbox child: runs one agent run's code actions and tool calls, and nothing else.

Normally forked by the fork server (zygote): ``python -I sandbox_child.py --zygote '<json>'``,
started by ``agents.runtime.zygote.ForkServer`` with an empty environment in its own session.
The zygote does steps 1-2 once, then forks one child per request (see ``zygote_main``); the
forked child sheds what it inherited (``_forked_child``) and does steps 3-5. Without the fork
server the child is started directly as ``python -I sandbox_child.py '<config json>'`` and does
every step itself. This file is self-contained (stdlib + smolagents only, never Django or
project code) and never trusts anything it runs.

Start-up, in this order:
1. Move the protocol to private fds and point fds 0/1/2 at /dev/null, so nothing user code
   prints can reach the protocol channel.
2. Pre-import smolagents (the trusted, slow part: ~0.4 s) with ``dotenv.load_dotenv`` disarmed
   (importing smolagents would load a project ``.env``), then clear ``os.environ`` again.
3. As root: a private mount namespace with a size/inode-limited tmpfs as the working dir (also
   bound on /tmp, /var/tmp, /dev/shm) and the configured paths (the project dir) hidden under
   empty tmpfs, keeping the interpreter's own prefix visible; then drop to the configured uid
   (setgroups([]), setgid, setuid). Each step is best-effort and reported in the ready message.
4. no_new_privs, parent-death signal, rlimits (AS, CPU, NPROC, NOFILE, FSIZE, CORE=0).
5. Say ``ready`` and serve JSON lines: one request in, one response out.

Ops (requests are ``{"op": ..., ...}``; every response has ``"ok"``):
- ``setup {tools: [ToolSpec json], allowed_imports: [str], variables: {}, network: bool}``
  defines custom tools from their source (written to a file and imported, so ``@tool`` and
  ``inspect.getsource`` work), instantiates built-ins from ``smolagents.default_tools``, adds
  ``FinalAnswerTool`` and creates a ``LocalPythonExecutor`` (allowed imports as first filter,
  no thread timeout: the parent owns the wall clock). ``network: false`` tries an unprivileged
  user+network namespace (no interfaces but a down loopback).
- ``vars {variables}``: merge JSON variables into the executor state.
- ``run {code}`` -> ``{ok, output, logs, is_final_answer}`` or ``{ok: false, error, logs}``;
  the output is made JSON-safe (JSON types pass, anything else becomes its truncated repr).
- ``ping`` -> ``{ok, pid, uid}``.
"""

import contextlib
import ctypes
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

PROTOCOL_VERSION = 1

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_BIND = 4096
_MS_MOVE = 8192
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NAME = 15
_PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


class _Channel:
    """JSON lines over two private fds, with a size cap on each request."""

    def __init__(self, rfd: int, wfd: int, max_request: int):
        self.inp = os.fdopen(rfd, "rb", buffering=1 << 16)
        self.wfd = wfd
        self.max_request = max_request

    def read(self):
        line = self.inp.readline(self.max_request + 1)
        if not line:
            return None
        if len(line) > self.max_request:
            raise ValueError("request too large")
        return json.loads(line)

    def write(self, msg: dict) -> None:
        data = json.dumps(msg, separators=(",", ":")).encode() + b"\n"
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]


def _truncate(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n..._This content has been truncated ({len(text) - cap} chars)_..."


def _safe_repr(obj, cap: int) -> str:
    try:
        return _truncate(repr(obj), cap)
    except BaseException as exc:  # a hostile __repr__, or an int too long to print
        return f"<unrepresentable {type(obj).__name__}: {type(exc).__name__}>"


def to_jsonable(obj, cap: int, depth: int = 0):
    """JSON types of exact builtin type pass (recursively, bounded); anything else is repr."""
    kind = type(obj)
    if obj is None or kind is bool or kind is float:
        return obj
    if kind is int:
        return obj if obj.bit_length() <= 1000 else _safe_repr(obj, cap)
    if kind is str:
        return _truncate(obj, cap)
    if depth < 20 and kind in (list, tuple) and len(obj) <= 10_000:
        return [to_jsonable(v, cap, depth + 1) for v in obj]
    if depth < 20 and kind is dict and len(obj) <= 10_000:
        return {
            (k if type(k) is str else _safe_repr(k, 200)): to_jsonable(v, cap, depth + 1)
            for k, v in obj.items()
        }
    return _safe_repr(obj, cap)


def _limited_json(value, cap: int):
    """The value as JSON, or its repr when the JSON form is over the cap."""
    safe = to_jsonable(value, cap)
    try:
        if len(json.dumps(safe)) <= cap:
            return safe
    except (TypeError, ValueError):
        pass
    return _safe_repr(value, cap)


def _isolate_mounts(cfg: dict, report: dict) -> str:
    """Root only: private mounts; returns the working directory to use."""
    workdir = cfg["workdir"]
    uid = cfg.get("uid")
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    _check(_libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
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
    def setlimit(res, soft, hard=None):
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


def _isolate_network(report: dict) -> None:
    """Unprivileged user + network namespace: only a down loopback. Best-effort."""
    try:
        _check(_libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET), "unshare(NEWUSER|NEWNET)")
        report["net_isolated"] = True
    except OSError as exc:
        report["net_isolated"] = False
        report["net_error"] = str(exc)


class _Runtime:
    def __init__(self, cfg: dict, workdir: str):
        self.cfg = cfg
        self.workdir = workdir
        self.executor = None
        self.pid = os.getpid()

    def setup(self, req: dict) -> dict:
        from smolagents import default_tools
        from smolagents.local_python_executor import LocalPythonExecutor
        from smolagents.tools import Tool

        if self.executor is not None:
            return {"ok": False, "error": "setup already done"}
        report = {}
        if not req.get("network", False):
            _isolate_network(report)
        tools = {}
        for index, spec in enumerate(req.get("tools", [])):
            name = spec["name"]
            if name in tools or name == "final_answer":
                return {"ok": False, "error": f"duplicate or reserved tool name {name!r}"}
            if spec.get("builtin"):
                cls = getattr(default_tools, str(spec.get("builtin_class")), None)
                if not (isinstance(cls, type) and issubclass(cls, Tool)):
                    return {
                        "ok": False,
                        "error": f"unknown built-in tool {spec.get('builtin_class')!r}",
                    }
                tools[name] = cls()
            else:
                tools[name] = self._load_custom_tool(index, spec, Tool)
        tools["final_answer"] = default_tools.FinalAnswerTool()
        executor = LocalPythonExecutor(
            additional_authorized_imports=list(req.get("allowed_imports", [])),
            max_print_outputs_length=int(self.cfg["max_log_chars"]),
            timeout_seconds=None,  # runs on this thread; the parent enforces the wall clock
        )
        executor.send_tools(tools)
        executor.send_variables(dict(req.get("variables") or {}))
        self.executor = executor
        return {"ok": True, "tools": sorted(tools), **report}

    def _load_custom_tool(self, index: int, spec: dict, tool_base):
        import importlib.util

        module_name = f"agentbay_tool_{index}_{spec['name']}"
        path = os.path.join(self.workdir, f"{module_name}.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(spec.get("source") or "")
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
        values = list(vars(module).values())
        instances = [v for v in values if isinstance(v, tool_base)]
        for tool in instances:
            if tool.name == spec["name"]:
                return tool
        classes = [
            v
            for v in values
            if isinstance(v, type) and issubclass(v, tool_base) and v.__module__ == module_name
        ]
        if len(classes) == 1:
            return classes[0]()
        if len(instances) == 1:
            return instances[0]
        raise ValueError(f"tool {spec['name']!r}: source defines no single tool")

    def run(self, req: dict) -> dict:
        if self.executor is None:
            return {"ok": False, "error": "setup has not run"}
        cap = int(self.cfg["max_output_chars"])
        log_cap = int(self.cfg["max_log_chars"])
        try:
            result = self.executor(str(req.get("code", "")))
        except BaseException as exc:  # noqa: BLE001 - anything the code raised is a step error
            logs = _print_outputs(self.executor)
            return {"ok": False, "error": _error_text(exc, cap), "logs": _truncate(logs, log_cap)}
        return {
            "ok": True,
            "output": _limited_json(result.output, cap),
            "logs": _truncate(str(result.logs), log_cap),
            "is_final_answer": bool(result.is_final_answer),
        }

    def variables(self, req: dict) -> dict:
        if self.executor is None:
            return {"ok": False, "error": "setup has not run"}
        self.executor.send_variables(dict(req.get("variables") or {}))
        return {"ok": True}


def _print_outputs(executor) -> str:
    try:
        return str(executor.state.get("_print_outputs", ""))
    except BaseException:  # noqa: BLE001
        return ""


def _error_text(exc: BaseException, cap: int) -> str:
    from smolagents.local_python_executor import InterpreterError

    try:
        text = str(exc) if isinstance(exc, InterpreterError) else f"{type(exc).__name__}: {exc}"
    except BaseException:  # noqa: BLE001 - a hostile __str__
        text = f"{type(exc).__name__}: <unprintable>"
    return _truncate(text, cap)


def _null_stdio() -> None:
    """Fresh /dev/null on fds 0/1/2 and sys.std*: nothing printed reaches a protocol channel."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    sys.stdin, sys.stdout, sys.stderr = open(os.devnull), sink, sink  # noqa: SIM115


def _import_trusted() -> None:
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


def _serve(cfg: dict, channel: _Channel) -> None:
    """Steps 3-5: isolate, limit, say ready, serve one run. Never returns."""
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
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)  # after setuid, which resets it
    if os.getppid() != int(cfg["parent_pid"]):
        os._exit(3)  # the spawning thread (or the fork server) is already gone
    _apply_limits(cfg, report)
    report["env_keys"] = len(os.environ)

    runtime = _Runtime(cfg, workdir)
    channel.write({"op": "ready", "ok": True, "v": PROTOCOL_VERSION, "pid": runtime.pid, **report})
    handlers = {
        "setup": runtime.setup,
        "run": runtime.run,
        "vars": runtime.variables,
        "ping": lambda req: {"ok": True, "pid": os.getpid(), "uid": os.getuid()},
    }
    while True:
        try:
            req = channel.read()
        except (ValueError, UnicodeDecodeError):
            os._exit(4)
        if req is None:
            os._exit(0)
        handler = handlers.get(req.get("op")) if isinstance(req, dict) else None
        try:
            resp = handler(req) if handler else {"ok": False, "error": "unknown op"}
        except BaseException as exc:  # noqa: BLE001 - report, keep serving
            resp = {"ok": False, "error": _error_text(exc, int(cfg["max_output_chars"]))}
        if os.getpid() != runtime.pid:
            os._exit(0)  # a process forked by user code never speaks the protocol
        resp["id"] = req.get("id") if isinstance(req, dict) else None
        try:
            channel.write(resp)
        except (TypeError, ValueError):
            channel.write({"ok": False, "error": "response not serialisable", "id": resp["id"]})


def main() -> None:
    """Direct start (no fork server): ``python -I sandbox_child.py '<config json>'``."""
    cfg = json.loads(sys.argv[1])
    # 1. Private protocol fds; user code only ever sees /dev/null on 0/1/2.
    rfd, wfd = os.dup(0), os.dup(1)
    _null_stdio()
    channel = _Channel(rfd, wfd, int(cfg["max_request_bytes"]))
    # 2. Trusted imports before anything untrusted runs; then no environment at all.
    _import_trusted()
    _serve(cfg, channel)


# --------------------------------------------------------------------------- fork server


def _open_fds() -> list[int]:
    return [int(name) for name in os.listdir("/proc/self/fd")]


def _forked_child(cfg: dict, fds: list[int], ctl) -> None:
    """In a child just forked by the zygote: shed everything inherited, then ``_serve``.

    Inherited and dropped here: the zygote's session and process group (setsid), its signal
    mask, every fd but the two protocol pipes (the control socket, the pidfds and status pipes
    of sibling children, 0/1/2 shared with the zygote), its random state (reseeded)."""
    os.setsid()
    _libc.prctl(_PR_SET_NAME, b"agentbay-sbx", 0, 0, 0)  # argv stays the zygote's
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
    _null_stdio()
    os.dup2(high_r, 3, inheritable=False)
    os.dup2(high_w, 4, inheritable=False)
    os.close(high_r)
    os.close(high_w)
    random.seed()  # also reseeded by random's own at-fork hook; never share the zygote's
    channel = _Channel(3, 4, int(cfg["max_request_bytes"]))
    _serve(cfg, channel)


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

    def __init__(self, ctl):
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
    """``python -I sandbox_child.py --zygote '<config json>'``: the fork server.

    Started like a direct child (empty environment, own session, by a worker thread that lives
    as long as the worker), with its control socket (one end of a SOCK_SEQPACKET socketpair,
    never named in the filesystem) on fd 0. It imports smolagents once, then forks one child
    per request. It runs no untrusted code and never sees run data: a request carries only the
    child's config (limits, uid, work dir) and three fds (the child's request and response
    pipes, and the write end of its status pipe)."""
    zcfg = json.loads(sys.argv[2])
    ctl_fd = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    _null_stdio()
    _import_trusted()
    os.chdir("/")
    _libc.prctl(_PR_SET_NAME, b"agentbay-zygote", 0, 0, 0)
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # /proc/<zygote>/* root-owned, no ptrace
    _libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
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


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--zygote":
        zygote_main()
    else:
        main()
