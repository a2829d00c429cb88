"""The sandbox abuse corpus through the real run path: service → task → the worker loop →
the real OpenAIServerModel (local fake server) → SandboxExecutor → stored steps.

Each payload is either the model's code action or the source of a custom tool stored in
the registry as-is (the registry's static check would refuse most of them; the sandbox must
hold even when that filter is bypassed). A canary secret sits in the worker's environment,
secret files the worker can read and Unix sockets it can reach are the payloads' targets, and a
``victim`` payload runs while another user's run is in flight: that run planted a secret in its
work dir, waits (its next model reply held back) and must finish afterwards with the secret.

Runs as root (dedicated child uids) and, in CI, as an ordinary user (``.ci/sandbox-nonroot``).
"""

import secrets
import threading
import time
from dataclasses import replace

import pytest

from agents import services
from agents.models import Run, RunStep
from agents.runtime.pool import SandboxPool
from agents.runtime.sandbox import PROJECT_DIR, SandboxLimits
from agents.validation import AgentConfig
from tests.agents.abuse_corpus import (
    CANARY_ENV,
    PAYLOADS,
    VICTIM_CHECK,
    VICTIM_INPUTS,
    VICTIM_PLANT,
    Targets,
    code_block,
    host_secrets,
    host_snapshot,
    host_socket_listening,
    host_sockets,
    host_traces,
    no_escapees,
    tool_source,
    vm_rss_kib,
    zygote_pid,
)
from tests.agents.conftest import wait_final, wait_for
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
    # Every child handed to a run, in order: a victim run's child is found here.
    pool.handed = []
    acquire = pool.acquire

    def acquire_and_record():
        sandbox = acquire()
        pool.handed.append(sandbox)
        return sandbox

    monkeypatch.setattr(pool, "acquire", acquire_and_record)
    yield pool
    pool.shutdown()


@pytest.fixture
def targets(transactional_db):
    """The worker runs in this process: WORKER_PID is ours, ZYGOTE_PID its fork server; the
    test database's file, a canary file in the project and listening sockets are the rest."""
    with host_secrets(PROJECT_DIR) as (files, canaries), host_sockets() as sockets:
        assert files and sockets
        yield Targets(
            PROJECT_DIR,
            zygote_pid(SMALL_LIMITS.python),
            secret_files=files,
            canaries=canaries,
            sockets=sockets,
        )


class VictimRun:
    """Another user's run in flight: its first action planted a secret in its child's work
    dir; its second model reply is held back until ``release()``, then it answers with what
    it reads back."""

    def __init__(self, fake_llm, pool, monkeypatch):
        self.secret = "victim-secret-" + secrets.token_hex(12)
        self.gate = threading.Event()
        owner = UserFactory()
        ToolFactory(name="plant", owner=owner, version__code=VICTIM_PLANT, inputs=VICTIM_INPUTS)
        ToolFactory(name="check", owner=owner, version__code=VICTIM_CHECK, inputs={})
        fake_llm.scripts["abuse-victim"] = [
            code_block(f"print(plant({self.secret!r}))"),
            code_block("final_answer(check())"),
        ]
        reply_for, calls = fake_llm.reply_for, []

        def held_reply(model: str, messages: list) -> tuple[int, str]:
            if model == "abuse-victim":
                calls.append(model)
                if len(calls) > 1:
                    self.gate.wait(BOUND_SECONDS)
            return reply_for(model, messages)

        monkeypatch.setattr(fake_llm, "reply_for", held_reply)
        agent = services.agent_create(
            owner=owner,
            config=AgentConfig(name="Victim", model="openai:abuse-victim", allowed_imports=[]),
        )
        agent.tools = ["plant", "check"]
        agent.state = "running"
        agent.save()
        handed = len(pool.handed)
        self.run = services.run_start(agent=agent, user=owner, message="Keep it.")
        wait_for(
            lambda: RunStep.objects.filter(run=self.run, observation__contains="planted").exists()
        )
        self.sandbox = pool.handed[handed]

    def release(self) -> Run:
        self.gate.set()
        return wait_final(self.run.pk, timeout=BOUND_SECONDS)


def run_payload(payload: dict, fake_llm, owner, targets: Targets) -> Run:
    model = f"abuse-{payload['id']}"
    tools = []
    if payload["where"] == "model_code":
        fake_llm.scripts[model] = [code_block(payload["code"]), FINISH]
    else:
        source = tool_source(payload, targets)
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
    payload, canary, small_pool, worker, fake_llm, transactional_db, targets, monkeypatch
):
    if payload.get("host_socket") and not host_socket_listening(payload["host_socket"]):
        pytest.skip(f"nothing listens on {payload['host_socket']} on this host")
    owner = UserFactory()
    zygote = zygote_pid(SMALL_LIMITS.python)
    snapshot = host_snapshot(PROJECT_DIR)
    victim = None
    if payload.get("victim"):
        victim = VictimRun(fake_llm, small_pool, monkeypatch)
        targets = replace(
            targets, victim_pid=victim.sandbox.pid, victim_workdir=victim.sandbox.workdir
        )
    started = time.monotonic()
    try:
        run = run_payload(payload, fake_llm, owner, targets)
    finally:
        victim_run = victim.release() if victim else None
    elapsed = time.monotonic() - started

    # Shown with `pytest -s`: the outcome table for the closing note of a change.
    first = run.steps.order_by("index").first()
    outcome = (first and (first.error or first.observation)) or run.error or ""
    print(f"\nabuse {payload['id']:<22} {run.status:<9} {elapsed:5.2f}s {outcome!r}"[:150])
    assert run.is_final
    assert elapsed < BOUND_SECONDS
    texts = run_texts(run)
    assert canary not in texts
    for secret in targets.canaries:
        assert secret not in texts
    for request in fake_llm.requests:  # nor did it reach the model
        assert canary not in str(request)
    assert host_traces(PROJECT_DIR, snapshot) == []
    if victim is not None:  # the other run: alive, finished, its work dir intact and unseen
        assert victim_run.status == "succeeded", (victim_run.status, victim_run.error)
        assert victim_run.output == victim.secret
        assert victim.secret not in texts
    assert worker.running  # the worker (this process) and its fork server are alive
    assert zygote_pid(SMALL_LIMITS.python) == zygote
    assert no_escapees(), "a process of the run outlived it"
    if payload.get("expect_in_output") and payload.get("expect") == ("harmless",):
        first = run.steps.order_by("index").first()
        assert first is not None and payload["expect_in_output"] in (first.observation or ""), (
            first and (first.observation, first.error)
        )


def test_worker_stays_alive_with_flat_memory_after_the_corpus(
    canary, small_pool, worker, fake_llm, transactional_db, targets
):
    owner = UserFactory()
    hostile = [p for p in PAYLOADS if not p.get("at_setup") and not p.get("victim")][:12]
    run_payload(hostile[0], fake_llm, owner, targets)  # warm-up: imports, caches
    before = vm_rss_kib()

    for payload in hostile[1:]:
        Run.objects.all().delete()
        from tools_registry.models import Tool

        Tool.objects.filter(name="evil").delete()
        run_payload(payload, fake_llm, owner, targets)
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
