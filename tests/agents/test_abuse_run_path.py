"""The sandbox abuse corpus through the real run path: service → task → the worker loop →
the real OpenAIServerModel (local fake server) → SandboxExecutor → stored steps.

Each payload is either the model's code action or the source of a custom tool stored in
the registry as-is (the registry's static check would refuse most of them; the sandbox must
hold even when that filter is bypassed). A canary secret sits in the worker's environment.
"""

import secrets
import time

import pytest

from agents import services
from agents.models import Run
from agents.runtime.pool import SandboxPool
from agents.runtime.sandbox import PROJECT_DIR, SandboxLimits
from agents.validation import AgentConfig
from tests.agents.abuse_corpus import (
    CANARY_ENV,
    PAYLOADS,
    code_block,
    no_escapees,
    tool_source,
    vm_rss_kib,
    zygote_pid,
)
from tests.agents.conftest import wait_final
from tests.factories import ToolFactory, UserFactory

FINISH = code_block("final_answer('done')")
BOUND_SECONDS = 20
SMALL_LIMITS = SandboxLimits(memory_bytes=256 * 1024 * 1024, cpu_seconds=1, action_timeout=2.0)


pytestmark = pytest.mark.slow


@pytest.fixture
def canary(monkeypatch):
    value = "canary-" + secrets.token_hex(16)
    monkeypatch.setenv(CANARY_ENV, value)
    return value


@pytest.fixture
def small_pool(monkeypatch):
    """Sandbox children with small limits, so payloads hit them quickly."""
    from agents.runtime import turn

    pool = SandboxPool(size=2, limits=SMALL_LIMITS)
    monkeypatch.setattr(turn, "_pool", pool)
    yield pool
    pool.shutdown()


def run_payload(payload: dict, fake_llm, owner) -> Run:
    model = f"abuse-{payload['id']}"
    tools = []
    if payload["where"] == "model_code":
        fake_llm.scripts[model] = [code_block(payload["code"]), FINISH]
    else:
        # The worker runs in this process: WORKER_PID is ours, ZYGOTE_PID its fork server.
        source = tool_source(payload, PROJECT_DIR, zygote_pid(SMALL_LIMITS.python))
        ToolFactory(name="evil", owner=owner, version__code=source, inputs={}, output_type="any")
        tools = ["evil"]
        fake_llm.scripts[model] = [code_block("result = evil()\nprint(result)"), FINISH]
    agent = services.agent_create(
        owner=owner,
        config=AgentConfig(name="Abuse", model=f"openai:{model}", allowed_imports=["json"]),
    )
    agent.tools = tools  # as stored before any later validation could refuse it
    agent.state = "running"
    agent.save()
    run = services.run_start(agent=agent, user=owner, message="Do the thing.")
    return wait_final(run.pk, timeout=BOUND_SECONDS)


def run_texts(run: Run) -> str:
    parts = [run.output or "", run.error or ""]
    for step in run.steps.all():
        parts += [step.text, step.code or "", step.observation or "", step.error or ""]
    return "\n".join(parts)


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p["id"] for p in PAYLOADS])
def test_payload_is_contained_on_the_real_run_path(
    payload, canary, small_pool, worker, fake_llm, transactional_db
):
    owner = UserFactory()
    zygote = zygote_pid(SMALL_LIMITS.python)
    started = time.monotonic()

    run = run_payload(payload, fake_llm, owner)
    elapsed = time.monotonic() - started

    # Shown with `pytest -s`: the outcome table for the closing note of a change.
    first = run.steps.order_by("index").first()
    outcome = (first and (first.error or first.observation)) or run.error or ""
    print(f"\nabuse {payload['id']:<22} {run.status:<9} {elapsed:5.2f}s {outcome!r}"[:150])
    assert run.is_final
    assert elapsed < BOUND_SECONDS
    assert canary not in run_texts(run)
    for request in fake_llm.requests:  # nor did it reach the model
        assert canary not in str(request)
    assert worker.running  # the worker (this process) and its fork server are alive
    assert zygote_pid(SMALL_LIMITS.python) == zygote
    assert no_escapees(), "a process of the run outlived it"
    if payload.get("expect_in_output") and payload.get("expect") == ("harmless",):
        first = run.steps.order_by("index").first()
        assert first is not None and payload["expect_in_output"] in (first.observation or ""), (
            first and (first.observation, first.error)
        )


def test_worker_stays_alive_with_flat_memory_after_the_corpus(
    canary, small_pool, worker, fake_llm, transactional_db
):
    owner = UserFactory()
    hostile = [p for p in PAYLOADS if not p.get("at_setup")][:12]
    run_payload(hostile[0], fake_llm, owner)  # warm-up: imports, caches
    before = vm_rss_kib()

    for payload in hostile[1:]:
        Run.objects.all().delete()
        from tools_registry.models import Tool

        Tool.objects.filter(name="evil").delete()
        run_payload(payload, fake_llm, owner)
    after = vm_rss_kib()

    normal = services.agent_start(
        agent=services.agent_create(
            owner=owner, config=AgentConfig(name="Normal", model="openai:two-step")
        ),
        by=owner,
    )
    run = wait_final(services.run_start(agent=normal, user=owner, message="compute").pk)
    assert run.status == "succeeded"
    assert after - before < 30 * 1024, f"worker RSS grew {before} → {after} KiB"
