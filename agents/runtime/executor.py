"""``SandboxExecutor``: smolagents' RemotePythonExecutor backed by one sandbox child.

Use it as ``CodeAgent(tools=proxy_tools(specs), model=..., executor=SandboxExecutor(...),
additional_authorized_imports=allowed)``. CodeAgent calls, in ``run()``:
``send_variables(agent.state)`` then ``send_tools(agent.tools)`` (here: ship the ToolSpecs of the
proxy tools, the child defines the real tools and its own FinalAnswerTool), then
``executor(code)`` per step (here: one JSON request to the child). A code action that calls
``final_answer(x)`` comes back as ``is_final_answer=True`` with ``x`` made JSON-safe, and
CodeAgent ends the run with it. Nothing is ever pickled.

Stopping: the executor follows a ``TurnControl`` (``control=``, shared with the turn and the
worker's monitor; ``deadline=`` is shorthand for a control of its own). When the turn must stop
(``control.stop()`` from any thread, ``executor.cancel()``, or the deadline passing) the child
is killed (a code action in flight returns at once) and the attached agent is interrupted
(``attach(agent)``), so the run stops at the next step boundary. The control's deadline bounds
every code action by the turn's wall clock.
"""

from __future__ import annotations

import io
import json
import threading
import weakref
from typing import Any

from rich.console import Console
from smolagents.default_tools import FinalAnswerTool
from smolagents.local_python_executor import CodeOutput
from smolagents.monitoring import AgentLogger, LogLevel
from smolagents.remote_executors import RemotePythonExecutor
from smolagents.utils import AgentError

from .control import StopReason, TurnControl
from .pool import SandboxPool
from .proxy import SandboxProxyTool
from .sandbox import Sandbox, SandboxError, SandboxLimits, start_sandbox


def quiet_logger() -> AgentLogger:
    return AgentLogger(level=LogLevel.OFF, console=Console(file=io.StringIO()))


class SandboxExecutor(RemotePythonExecutor):
    """One run's executor. Acquires its child at construction; ``cleanup()`` discards it."""

    def __init__(
        self,
        additional_imports: list[str],
        logger: AgentLogger | None = None,
        *,
        pool: SandboxPool | None = None,
        sandbox: Sandbox | None = None,
        limits: SandboxLimits | None = None,
        control: TurnControl | None = None,
        deadline: float | None = None,
        network: bool = False,
        max_restarts: int = 1,
    ):
        super().__init__(list(additional_imports), logger or quiet_logger(), allow_pickle=False)
        # CodeAgent reads state["_print_outputs"] for the logs of a failed code action.
        self.state: dict[str, Any] = {"_print_outputs": ""}
        self.pool = pool
        self.limits = limits or (
            pool.limits if pool else sandbox.limits if sandbox else SandboxLimits()
        )
        self.control = control or TurnControl(deadline)
        self.network = network
        self.max_restarts = max_restarts
        self.restarts = 0
        self.setup_info: dict = {}
        self._closed = False
        self._lock = threading.Lock()
        self._agent_ref = None
        self._specs: list[dict] | None = None
        self._variables: dict = {}
        self._set_up = False
        # A child acquired by the caller (e.g. pool.acquire()), else one from pool / cold.
        self._sandbox: Sandbox | None = sandbox or self._acquire()
        # Weakly: an executor nobody holds any more still closes its child in __del__.
        this = weakref.ref(self)

        def stop_child() -> None:
            executor = this()
            if executor is not None:
                executor._on_stop()

        self.control.on_stop(stop_child)

    # ------------------------------------------------------------------ plumbing

    @property
    def sandbox(self) -> Sandbox | None:
        return self._sandbox

    @property
    def stop_reason(self) -> str | None:
        """Why no more code runs here: the turn's stop reason, else "closed" once cleaned up."""
        return self.control.reason or ("closed" if self._closed else None)

    def attach(self, agent) -> SandboxExecutor:
        """Remember the agent (weakly) so cancel() and the deadline can interrupt it."""
        self._agent_ref = weakref.ref(agent)
        return self

    def _acquire(self) -> Sandbox:
        if self.pool is not None:
            return self.pool.acquire()
        return start_sandbox(self.limits)

    def _error(self, message: str) -> AgentError:
        return AgentError(message, self.logger)

    def _timeout(self) -> float:
        """One request's wall clock: the action timeout, cut to what is left of the turn."""
        if self.control.must_stop() == StopReason.DEADLINE:
            raise self._error("Run stopped: the turn's wall clock is exhausted.")
        remaining = self.control.remaining()
        if remaining is None:
            return self.limits.action_timeout
        return min(self.limits.action_timeout, remaining)

    def _on_stop(self) -> None:
        """The turn must stop (any thread): interrupt the agent, kill the child."""
        agent = self._agent_ref() if self._agent_ref else None
        if agent is not None:
            agent.interrupt()
        with self._lock:
            sandbox = self._sandbox
        if sandbox is not None:
            sandbox.kill(self.control.detail)

    def _current(self) -> Sandbox:
        """The live, set-up child; replaces a dead one while restarts remain."""
        if self.stop_reason is not None:
            raise self._error(f"Run stopped ({self.stop_reason}).")
        sandbox = self._sandbox
        if sandbox is None:
            raise self._error("The sandbox executor was cleaned up.")
        if sandbox.alive and self._set_up:
            return sandbox
        if not sandbox.alive:
            if self.restarts >= self.max_restarts:
                raise self._error("The sandbox is gone; no more code can run in this turn.")
            self.restarts += 1
            sandbox.close()
            fresh = self._acquire()
            with self._lock:
                self._sandbox, self._set_up = fresh, False
            if self.stop_reason is not None:  # cancelled while we were acquiring
                fresh.kill(self.stop_reason)
                raise self._error(f"Run stopped ({self.stop_reason}).")
        self._setup()
        return self._sandbox

    def _setup(self) -> None:
        result = self._sandbox.setup(
            self._specs or [],
            self.additional_imports,
            variables=self._variables,
            network=self.network,
            timeout=self._timeout(),
        )
        if not result.get("ok"):
            raise SandboxError("setup", f"sandbox setup failed: {result.get('error')}")
        self.setup_info = result
        self._set_up = True

    # ------------------------------------------------------------------ PythonExecutor API

    def send_tools(self, tools: dict[str, Any]) -> None:
        specs = []
        for name, tool in tools.items():
            if name == "final_answer" and isinstance(tool, FinalAnswerTool):
                continue  # the child has its own FinalAnswerTool
            if not isinstance(tool, SandboxProxyTool):
                raise ValueError(
                    f"tool {name!r} is not a sandbox proxy tool (managed agents and in-process "
                    "tools cannot run in the sandbox)"
                )
            specs.append(tool.spec.to_json())
        if self._specs is not None:
            if specs != self._specs:
                raise ValueError("the sandbox's tools cannot change during a run")
            return  # a later run() on the same agent: same child, same tools
        self._specs = specs
        self._current()

    def send_variables(self, variables: dict[str, Any]) -> None:
        if not variables:
            return
        try:
            clean = json.loads(json.dumps(variables))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sandbox variables must be JSON values: {exc}") from exc
        self._variables.update(clean)
        if self._set_up and self._sandbox is not None and self._sandbox.alive:
            result = self._sandbox.send_variables(clean, timeout=self._timeout())
            if not result.get("ok"):
                raise self._error(f"sandbox rejected variables: {result.get('error')}")

    def run_code_raise_errors(self, code: str) -> CodeOutput:
        self.state["_print_outputs"] = ""
        sandbox = self._current()
        try:
            result = sandbox.run_code(code, timeout=self._timeout())
        except SandboxError as exc:
            # The deadline may be what cut this request short: then the turn stops here.
            if self.control.must_stop() == StopReason.DEADLINE:
                raise self._error(
                    f"Run stopped: the turn's wall clock is exhausted. {exc}"
                ) from exc
            if self.stop_reason is not None:
                raise self._error(f"Run stopped ({self.stop_reason}): {exc}") from exc
            more = (
                " The sandbox will be restarted: variables from earlier steps are lost."
                if self.restarts < self.max_restarts
                else ""
            )
            raise self._error(f"Sandbox error: {exc}.{more}") from exc
        logs = result.get("logs")
        self.state["_print_outputs"] = logs if isinstance(logs, str) else ""
        if not result["ok"]:
            raise self._error(str(result.get("error", "unknown error")))
        return CodeOutput(
            output=result.get("output"),
            logs=self.state["_print_outputs"],
            is_final_answer=result.get("is_final_answer") is True,
        )

    def install_packages(self, additional_imports: list[str]) -> list[str]:
        if additional_imports:
            raise ValueError("installing packages in the sandbox is not supported")
        return []

    # ------------------------------------------------------------------ stopping

    def cancel(self, reason: str = "cancelled") -> None:
        """Thread-safe: stop the turn, which kills the child and interrupts the agent."""
        self.control.stop(StopReason.CANCELLED, reason)

    def cleanup(self) -> None:
        """Discard the child. Safe from another thread: a code action in flight then fails
        with "Run stopped (closed)" and nothing restarts."""
        self._closed = True
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()

    delete = cleanup

    def __del__(self):
        # Last resort only: callers should use cleanup() / the agent as a context manager.
        sandbox = getattr(self, "_sandbox", None)
        if sandbox is not None:
            sandbox.close()
