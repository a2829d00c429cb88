"""Executing one chat turn in the worker (DESIGN.md "How a chat turn flows").

A fresh CodeAgent per turn (instances are not thread-safe and keep executor variables);
the model call happens here with the platform's credentials; every code action and tool
call runs in a sandbox child through SandboxExecutor; each step is stored as it completes.

The turn's wall clock and whether it must stop belong to its ``TurnControl``, handed out by
the worker's monitor (``monitor.py``) and shared with the executor.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from django.conf import settings

from .control import StopReason, TurnControl
from .monitor import MONITOR, timeout_message

if TYPE_CHECKING:
    from ..models import Agent, Run
    from .executor import SandboxExecutor
    from .pool import SandboxPool

logger = logging.getLogger(__name__)

_CODE_BLOCK = re.compile(r"<code>.*?(?:</code>|$)|```(?:python|py)?\n.*?(?:```|$)", re.DOTALL)
MAX_TEXT = 20_000

NETWORK_BUILTINS = {"web_search", "visit_webpage", "wikipedia_search"}

INSTRUCTIONS = (
    "You run on Agentbay. Python variables do not survive between chat turns: rely on the "
    "conversation text for anything from earlier turns."
)


_pool: SandboxPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> SandboxPool:
    """The worker's pool of pre-started sandbox children (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from .pool import SandboxPool
            from .sandbox import SandboxLimits

            limits = SandboxLimits(
                memory_bytes=settings.SANDBOX_MEMORY_MB * 1024 * 1024,
                cpu_seconds=settings.SANDBOX_CPU_SECONDS,
            )
            _pool = SandboxPool(size=settings.SANDBOX_POOL_SIZE, limits=limits)
        return _pool


def started_pool() -> SandboxPool | None:
    """The worker's pool if get_pool() started it (the ops board reads its state)."""
    return _pool


def model_for(agent: Agent) -> Any:
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


def _build(
    agent: Agent, specs: list, model: Any, control: TurnControl
) -> tuple[Any, SandboxExecutor]:
    """A fresh CodeAgent whose code runs in a sandbox child from the pool."""
    from smolagents import CodeAgent

    from .executor import SandboxExecutor, quiet_logger
    from .proxy import proxy_tools

    _use_compiled_templates()

    allowed = list(agent.allowed_imports)
    executor = SandboxExecutor(
        allowed,
        pool=get_pool(),
        control=control,
        # The child has no network unless a built-in that needs it was picked.
        network=any(spec.builtin and spec.name in NETWORK_BUILTINS for spec in specs),
    )
    instructions = INSTRUCTIONS
    if agent.metadata.get("instructions"):
        instructions += "\n\n" + str(agent.metadata["instructions"])
    code_agent = CodeAgent(
        prompt_templates=code_agent_prompts(),
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


@functools.cache
def _parsed_code_agent_prompts() -> dict:
    import importlib.resources

    import yaml

    source = importlib.resources.files("smolagents.prompts").joinpath("code_agent.yaml")
    return yaml.safe_load(source.read_text())


@functools.lru_cache(maxsize=256)
def _compiled_template(template: str) -> Any:
    from jinja2 import StrictUndefined, Template

    return Template(template, undefined=StrictUndefined)


def populate_template(template: str, variables: dict[str, Any]) -> str:
    """smolagents' `populate_template`, with each template compiled once per process.

    smolagents compiles its Jinja templates on every call: the system prompt alone (about
    17 ms) twice per turn, then the planning and final-answer ones. Compiling is a pure
    function of the template's text, and a compiled Template renders safely from many
    threads, so the cache changes nothing but the time (docs/smolagents-notes.md §7)."""
    try:
        return _compiled_template(template).render(**variables)
    except Exception as e:  # the message smolagents raises, unchanged
        raise Exception(f"Error during jinja template rendering: {type(e).__name__}: {e}") from e


def _use_compiled_templates() -> None:
    import smolagents.agents

    if smolagents.agents.populate_template is not populate_template:
        smolagents.agents.populate_template = populate_template


def code_agent_prompts() -> dict:
    """smolagents' own CodeAgent prompt templates, parsed once per process: CodeAgent parses
    its YAML on every construction (about 11 ms of each turn). A copy per turn, so nothing
    one agent does to its templates reaches the next."""
    return copy.deepcopy(_parsed_code_agent_prompts())


def release_connection() -> None:
    """Hand this thread's database connection back between the turn's writes: a turn mostly
    waits on its model, and on PostgreSQL a connection held meanwhile is one of
    `max_connections` per turn in flight. With the pool (settings, DB_POOL_MAX_SIZE) it goes
    back to the pool; Django takes one again at the next query. Kept on SQLite (no such
    limit, and reopening the file costs more than holding it), and inside a transaction (a
    test's: closing would end it)."""
    from django.db import connection

    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        connection.close()


def execute_turn(run: Run) -> None:
    """Run one claimed turn to its end; every outcome is recorded through services."""
    from smolagents.memory import ActionStep, FinalAnswerStep, PlanningStep

    from ..models import Run, RunStep
    from ..services import run_finish, run_step_record
    from .memory import load_steps

    control = MONITOR.watch(run.pk)
    executor = None
    try:
        try:
            specs, model = _resolve(run.agent)
        except CannotRun as exc:
            run_finish(run=run, status=Run.Status.FAILED, error=str(exc))
            return
        code_agent, executor = _build(run.agent, specs, model, control)

        steps, final_output, failure = [], None, None
        if control.must_stop() is None:  # else stopped while we were building
            code_agent.memory.steps = load_steps(_history(run))
            release_connection()  # the first model call comes next
            try:
                last_step = None
                for event in code_agent.run(run.message, stream=True, reset=False):
                    if event is last_step:
                        # At max_steps smolagents yields its last ActionStep a second time
                        # (agents.py, _run_stream): one step, stored once, so the card counts
                        # the 10 steps "Stopped after 10 steps" speaks of.
                        continue
                    if isinstance(event, ActionStep | PlanningStep):
                        last_step = event
                        fields = _step_fields(event)
                        steps.append(run_step_record(run=run, index=len(steps) + 1, **fields))
                        release_connection()  # the next model call comes next
                    elif isinstance(event, FinalAnswerStep):
                        final_output = _output_text(event.output)
            except Exception as exc:
                failure = getattr(exc, "message", None) or str(exc) or type(exc).__name__

        # Asked again: the wall clock may have run out during the last step.
        reason = control.must_stop()
        if reason is not None and reason != StopReason.DEADLINE:
            return  # finalised from outside (cancelled, stopped, deleted): that outcome stands
        if reason == StopReason.DEADLINE:
            # The monitor may have recorded the timeout already; the first writer wins.
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
        MONITOR.unwatch(run.pk)
        if executor is not None:
            try:
                executor.cleanup()
            except Exception:
                logger.debug("sandbox cleanup failed", exc_info=True)
