"""Serving one run inside the child: the request loop, its ops, and JSON-safe results.

Everything a request carries and everything the run's code returns is untrusted: results are
made JSON-safe and size-capped here, and an op that raises is reported, never fatal.
"""

from __future__ import annotations

import json
import os
import sys

from .channel import Channel, null_stdio
from .isolation import import_trusted, isolate, isolate_network

PROTOCOL_VERSION = 1


def _truncate(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n..._This content has been truncated ({len(text) - cap} chars)_..."


def _safe_repr(obj, cap: int) -> str:
    try:
        return _truncate(repr(obj), cap)
    except BaseException as exc:  # a hostile __repr__, or an int too long to print
        return f"<unrepresentable {type(obj).__name__}: {type(exc).__name__}>"


def to_jsonable(obj: object, cap: int, depth: int = 0) -> object:
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


class Runtime:
    """One run's tools and executor, behind the ops of the protocol."""

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
            isolate_network(report)
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


def serve(cfg: dict, channel: Channel) -> None:
    """Steps 3-5: isolate, limit, say ready, serve one run. Never returns."""
    workdir, report = isolate(cfg)
    runtime = Runtime(cfg, workdir)
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


def direct_main() -> None:
    """Direct start (no fork server): ``python -I sandbox_child '<config json>'``."""
    cfg = json.loads(sys.argv[1])
    # 1. Private protocol fds; user code only ever sees /dev/null on 0/1/2.
    rfd, wfd = os.dup(0), os.dup(1)
    null_stdio()
    channel = Channel(rfd, wfd, int(cfg["max_request_bytes"]))
    # 2. Trusted imports before anything untrusted runs; then no environment at all.
    import_trusted()
    serve(cfg, channel)
