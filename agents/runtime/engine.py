"""Executing one chat turn in the worker (DESIGN.md "How a chat turn flows").

A fresh CodeAgent per turn (instances are not thread-safe and keep executor variables);
the model call happens here with the platform's credentials; every code action and tool
call runs in a sandbox child through SandboxExecutor; each step is stored as it completes.

A monitor thread per worker process keeps the leases of the turns it executes fresh, and
aborts a turn (kills its sandbox child, interrupts the agent) when the run was finalised
from outside — cancelled by a user, stopped with its agent, deleted — or passed its wall
clock. The database is the source of truth: whoever finalises a run first wins.
"""

import logging
import re
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_CODE_BLOCK = re.compile(r"<code>.*?(?:</code>|$)|```(?:python|py)?\n.*?(?:```|$)", re.DOTALL)
MAX_TEXT = 20_000

NETWORK_BUILTINS = {"web_search", "visit_webpage", "wikipedia_search"}

INSTRUCTIONS = (
    "You run on Agentbay. Python variables do not survive between chat turns: rely on the "
    "conversation text for anything from earlier turns."
)


@dataclass
class TurnHandle:
    run_id: int
    deadline: float
    code_agent: object | None = None
    executor: object | None = None
    aborted: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def abort(self, reason: str) -> None:
        """Stop the turn from another thread: kill the child, interrupt between steps."""
        with self.lock:
            if self.aborted:
                return
            self.aborted = reason
            code_agent, executor = self.code_agent, self.executor
        if code_agent is not None:
            code_agent.interrupt()
        if executor is not None:
            try:
                executor.cleanup()
            except Exception:  # a child already gone is fine
                logger.debug("cleanup after abort failed", exc_info=True)


class Monitor:
    """One thread per worker process: heartbeats, cancellation, timeouts, reaping."""

    TICK = 0.25
    HEARTBEAT_EVERY = 2.0
    REAP_EVERY = 30.0

    def __init__(self):
        self.handles: dict[int, TurnHandle] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.reaping = False

    def register(self, handle: TurnHandle) -> None:
        with self.lock:
            self.handles[handle.run_id] = handle
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._loop, name="agents-monitor", daemon=True
                )
                self.thread.start()

    def unregister(self, run_id: int) -> None:
        with self.lock:
            self.handles.pop(run_id, None)

    def in_flight(self) -> int:
        with self.lock:
            return len(self.handles)

    def _loop(self) -> None:
        last_beat = last_reap = 0.0
        while True:
            time.sleep(self.TICK)
            try:
                last_beat, last_reap = self._tick(last_beat, last_reap)
            except Exception:
                logger.exception("agents monitor tick failed")
                try:
                    close_old_connections()
                except Exception:  # the database is away; try again next tick
                    logger.debug("closing connections failed", exc_info=True)
            with self.lock:
                if not self.handles and not self.reaping:
                    # Nothing to watch: end the thread and its connection; the next
                    # register() starts a new one.
                    self.thread = None
                    connection.close()
                    return

    def _tick(self, last_beat: float, last_reap: float) -> tuple[float, float]:
        from ..models import Run
        from ..services import run_finish, runs_heartbeat, runs_reap

        with self.lock:
            handles = dict(self.handles)
        now = time.monotonic()
        if handles:
            statuses = dict(Run.objects.filter(pk__in=list(handles)).values_list("pk", "status"))
            for run_id, handle in handles.items():
                status = statuses.get(run_id)
                if status != Run.Status.RUNNING:
                    handle.abort(f"run is {status or 'deleted'}")
                elif now > handle.deadline:
                    run_finish(
                        run=Run(pk=run_id), status=Run.Status.TIMED_OUT, error=timeout_message()
                    )
                    handle.abort("timed out")
            if now - last_beat >= self.HEARTBEAT_EVERY:
                runs_heartbeat(run_ids=list(handles))
                last_beat = now
        if self.reaping and now - last_reap >= self.REAP_EVERY:
            runs_reap()
            last_reap = now
        return last_beat, last_reap


MONITOR = Monitor()


def timeout_message() -> str:
    return f"The turn took longer than {settings.AGENT_RUN_TIMEOUT_SECONDS} s and was stopped."


_pool = None
_pool_lock = threading.Lock()


def get_pool():
    """The worker's pool of pre-started sandbox children (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from .sandbox import SandboxLimits, SandboxPool

            limits = SandboxLimits(
                memory_bytes=settings.SANDBOX_MEMORY_MB * 1024 * 1024,
                cpu_seconds=settings.SANDBOX_CPU_SECONDS,
            )
            _pool = SandboxPool(size=settings.SANDBOX_POOL_SIZE, limits=limits)
        return _pool


def model_for(agent):
    """The smolagents Model for an agent (tests replace this with a scripted model)."""
    from .providers import build_model, parse_model

    return build_model(parse_model(agent.model), timeout=settings.AGENT_PROVIDER_TIMEOUT_SECONDS)


def _thought(model_output: str | None) -> str:
    text = _CODE_BLOCK.sub("", model_output or "").strip()
    return re.sub(r"^Thought:\s*", "", text)[:MAX_TEXT]


def _text(value) -> str | None:
    if value is None:
        return None
    return str(value)[:MAX_TEXT]


def _output_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, dict) and "text" in v for v in value):
        return "\n".join(str(v["text"]) for v in value)  # provide_final_answer's error shape
    return str(value)


def _history(run) -> list[tuple[str, list[dict]]]:
    """Earlier finished turns of the conversation, oldest first, capped."""
    from ..models import Run

    earlier = (
        Run.objects.final()
        .filter(conversation_id=run.conversation_id, created_at__lt=run.created_at)
        .exclude(status=Run.Status.CANCELLED)
        .order_by("-created_at")
        .prefetch_related("steps")[: settings.AGENT_HISTORY_RUNS]
    )
    return [(r.message, [s.memory for s in r.steps.all()]) for r in reversed(list(earlier))]


def _step_fields(event) -> dict:
    """The RunStep columns for one ActionStep or PlanningStep."""
    from smolagents.memory import PlanningStep

    from ..models import RunStep
    from .memory import dump_step

    usage = event.token_usage
    fields = {
        "duration_ms": int((event.timing.duration or 0) * 1000),
        "input_tokens": usage.input_tokens if usage else 0,
        "output_tokens": usage.output_tokens if usage else 0,
        "memory": dump_step(event),
    }
    if isinstance(event, PlanningStep):
        return {**fields, "kind": RunStep.Kind.PLANNING, "text": _text(event.plan) or ""}
    return {
        **fields,
        "kind": RunStep.Kind.FINAL_ANSWER if event.is_final_answer else RunStep.Kind.ACTION,
        "text": _thought(event.model_output),
        "code": _text(event.code_action),
        "observation": _text(event.observations),
        "error": _text(event.error.message) if event.error else None,
    }


def _resolve(agent) -> tuple[list, object]:
    """The agent's tool specs and model, or CannotRun with the reason."""
    from tools_registry.services import tool_specs_for_run

    from .providers import ProviderError

    try:
        specs = tool_specs_for_run(names=agent.tools)
        return specs, model_for(agent)
    except ProviderError as exc:
        raise CannotRun(f"Model unavailable: {exc}") from exc
    except Exception as exc:  # invalid tools, a model string saved before a rule changed...
        detail = getattr(exc, "detail", None) or str(exc)
        if isinstance(detail, list):
            detail = " ".join(str(item) for item in detail)
        raise CannotRun(f"Cannot run: {detail}") from exc


class CannotRun(Exception):
    pass


def _build(agent, specs: list, model, deadline: float):
    """A fresh CodeAgent whose code runs in a sandbox child from the pool."""
    from smolagents import CodeAgent

    from .executor import SandboxExecutor, quiet_logger
    from .proxy import proxy_tools

    allowed = list(agent.allowed_imports)
    executor = SandboxExecutor(
        allowed,
        pool=get_pool(),
        deadline=deadline,
        # The child has no network unless a built-in that needs it was picked.
        network=any(spec.builtin and spec.name in NETWORK_BUILTINS for spec in specs),
    )
    instructions = INSTRUCTIONS
    if agent.metadata.get("instructions"):
        instructions += "\n\n" + str(agent.metadata["instructions"])
    code_agent = CodeAgent(
        tools=proxy_tools(specs),
        model=model,
        executor=executor,
        additional_authorized_imports=allowed,
        max_steps=settings.AGENT_MAX_STEPS,
        instructions=instructions,
        logger=quiet_logger(),
    )
    executor.attach(code_agent)
    return code_agent, executor


def execute_turn(run) -> None:
    """Run one claimed turn to its end; every outcome is recorded through services."""
    from smolagents.memory import ActionStep, FinalAnswerStep, PlanningStep

    from ..models import Run, RunStep
    from ..services import run_finish, run_step_record
    from .memory import load_steps

    deadline = time.monotonic() + settings.AGENT_RUN_TIMEOUT_SECONDS
    handle = TurnHandle(run_id=run.pk, deadline=deadline)
    MONITOR.register(handle)
    try:
        try:
            specs, model = _resolve(run.agent)
        except CannotRun as exc:
            run_finish(run=run, status=Run.Status.FAILED, error=str(exc))
            return
        code_agent, executor = _build(run.agent, specs, model, deadline)
        with handle.lock:
            handle.code_agent, handle.executor = code_agent, executor
        if handle.aborted:  # cancelled while we were building
            return
        code_agent.memory.steps = load_steps(_history(run))

        steps, final_output, failure = [], None, None
        try:
            for event in code_agent.run(run.message, stream=True, reset=False):
                if isinstance(event, ActionStep | PlanningStep):
                    fields = _step_fields(event)
                    steps.append(run_step_record(run=run, index=len(steps) + 1, **fields))
                elif isinstance(event, FinalAnswerStep):
                    final_output = _output_text(event.output)
        except Exception as exc:
            failure = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if handle.aborted:
            return  # already finalised by whoever aborted it

        if time.monotonic() >= deadline:
            # The executor enforces the same deadline on code actions and may get there
            # a tick before the monitor does.
            status, error = Run.Status.TIMED_OUT, timeout_message()
        elif failure is not None:
            status, error = Run.Status.FAILED, _text(failure)
        elif any(step.kind == RunStep.Kind.FINAL_ANSWER for step in steps):
            status, error = Run.Status.SUCCEEDED, None
        else:
            status = Run.Status.FAILED
            error = f"Stopped after {settings.AGENT_MAX_STEPS} steps without a final answer."
        run_finish(
            run=run,
            status=status,
            error=error,
            output=_text(final_output),
            input_tokens=sum(step.input_tokens for step in steps),
            output_tokens=sum(step.output_tokens for step in steps),
        )
    finally:
        MONITOR.unregister(run.pk)
        if handle.executor is not None:
            try:
                handle.executor.cleanup()
            except Exception:
                logger.debug("sandbox cleanup failed", exc_info=True)
