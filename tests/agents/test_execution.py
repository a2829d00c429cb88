"""Chat turns end to end: API → task → worker → real OpenAIServerModel against the local
fake server → sandbox child → stored steps. No network."""

import signal
import time

import pytest

from agents import services
from agents.models import Run
from agents.validation import AgentConfig
from gamification.models import AgentStats
from tests.agents.conftest import wait_final, wait_for
from tests.factories import UserFactory


def make_agent(owner, model: str, **extra):
    agent = services.agent_create(
        owner=owner, config=AgentConfig(name="Tester", model=f"openai:{model}", **extra)
    )
    return services.agent_start(agent=agent, by=owner)


def chat(agent, user, message="What is 6 times 7?", conversation_id=None) -> Run:
    return services.run_start(
        agent=agent, user=user, message=message, conversation_id=conversation_id
    )


@pytest.fixture
def owner(transactional_db):
    return UserFactory()


def test_two_step_turn_succeeds_with_steps_stored(worker, owner):
    run = wait_final(chat(make_agent(owner, "two-step"), owner).pk)

    assert run.status == "succeeded", run.error
    assert run.output == "The answer is 42"
    steps = list(run.steps.all())
    assert [s.kind for s in steps] == ["action", "final_answer"]
    assert steps[0].code == "x = 6 * 7\nprint(x)"
    assert "42" in steps[0].observation
    assert steps[0].text == "I will compute the product first."
    assert run.input_tokens == 40 and run.output_tokens == 16
    assert run.duration_ms is not None
    stats = run.agent.stats
    assert (stats.total_requests, stats.successful_requests) == (1, 1)


def test_failing_code_is_an_error_step_and_the_agent_recovers(worker, owner, fake_llm):
    fake_llm.scripts["broken"] = [
        "<code>\nundefined_function()\n</code>",
        '<code>\nfinal_answer("recovered")\n</code>',
    ]

    run = wait_final(chat(make_agent(owner, "broken"), owner).pk)

    assert run.status == "succeeded"
    assert run.output == "recovered"
    first = run.steps.get(index=1)
    assert "undefined_function" in first.error


def test_a_turn_at_the_step_limit_stores_each_step_once(worker, owner, fake_llm, settings):
    settings.AGENT_MAX_STEPS = 3
    fake_llm.scripts["stuck"] = ["<code>\nundefined_function()\n</code>"]

    run = wait_final(chat(make_agent(owner, "stuck"), owner).pk)

    assert run.status == "failed"
    assert run.error == "Stopped after 3 steps without a final answer."
    # smolagents yields its last step twice at the limit; it is one step.
    assert [s.index for s in run.steps.all()] == [1, 2, 3]


@pytest.mark.parametrize("status", [500, 429])
def test_model_server_errors_fail_the_run_quickly(worker, owner, status):
    started = time.monotonic()
    run = wait_final(chat(make_agent(owner, f"status-{status}"), owner).pk)

    assert run.status == "failed"
    assert str(status) in run.error
    assert time.monotonic() - started < 10  # no minutes-long rate-limit retry
    assert run.agent.stats.failed_requests == 1


def test_a_hanging_model_server_times_out(worker, owner, settings):
    settings.AGENT_RUN_TIMEOUT_SECONDS = 2
    # Longer than the turn's wall clock, so the turn's own deadline must end it; short
    # enough that the abandoned model call does not hold the worker's shutdown for long.
    settings.AGENT_PROVIDER_TIMEOUT_SECONDS = 5

    started = time.monotonic()
    run = wait_final(chat(make_agent(owner, "hang"), owner).pk, timeout=15)

    assert run.status == "timed_out"
    assert "longer than 2 s" in run.error
    assert time.monotonic() - started < 6


def test_a_hanging_code_action_times_out_and_the_child_is_killed(worker, owner, settings):
    settings.AGENT_RUN_TIMEOUT_SECONDS = 2

    run = wait_final(chat(make_agent(owner, "sleepy-code"), owner).pk, timeout=15)

    assert run.status == "timed_out"
    assert run.duration_ms < 5000


def test_stop_cancels_a_running_turn_within_two_seconds(worker, owner):
    agent = make_agent(owner, "sleepy-code")
    run = chat(agent, owner)
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "running")
    time.sleep(0.5)  # the code action is now sleeping in the sandbox

    stopped_at = time.monotonic()
    services.agent_stop(agent=agent, by=owner)
    run = wait_final(run.pk, timeout=5)

    assert run.status == "cancelled"
    assert time.monotonic() - stopped_at < 2
    from agents.runtime.monitor import MONITOR

    wait_for(lambda: MONITOR.in_flight() == 0, timeout=5)


def test_missing_credentials_fail_with_an_actionable_error(worker, owner, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")

    run = wait_final(chat(make_agent(owner, "echo"), owner).pk)

    assert run.status == "failed"
    assert "OPENAI_API_KEY" in run.error


def test_chat_wait_returns_the_final_run(worker, owner, make_api_client):
    agent = make_agent(owner, "two-step")

    response = make_api_client(owner).post(
        f"/api/v1/agents/{agent.pk}/chat", {"message": "compute", "wait": True}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["output"] == "The answer is 42"
    assert [s["index"] for s in body["steps"]] == [1, 2]


def test_multi_turn_memory_across_worker_processes(worker_process, owner):
    agent = make_agent(owner, "remember")
    first_worker = worker_process()
    first = wait_final(chat(agent, owner, "first question").pk)
    first_worker.kill()
    first_worker.wait()

    worker_process()
    second = wait_final(
        chat(agent, owner, "second question", conversation_id=first.conversation_id).pk
    )

    assert first.output == "first question"
    assert second.output == "first question | second question"


def test_a_worker_killed_mid_run_is_reaped(worker_process, owner):
    lease = {"AGENT_RUN_LEASE_SECONDS": "2"}
    doomed = worker_process(env=lease)
    run = chat(make_agent(owner, "sleepy-code"), owner)
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "running", timeout=30)

    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    time.sleep(2.5)
    worker_process(env=lease)  # reaps on start

    run = wait_final(run.pk, timeout=20)
    assert run.status == "failed"
    assert "stopped responding" in run.error


def test_two_worker_processes_execute_each_run_exactly_once(worker_process, owner):
    from django_tasks_db.models import DBTaskResult

    agent = make_agent(owner, "two-step")
    worker_process()
    worker_process()
    runs = [chat(agent, owner, f"question {n}") for n in range(10)]

    finished = [wait_final(run.pk, timeout=60) for run in runs]

    assert {run.status for run in finished} == {"succeeded"}
    assert all(run.steps.count() == 2 for run in finished)
    # The task is marked done just after its run is finalised: wait for the last one.
    wait_for(lambda: DBTaskResult.objects.filter(status="SUCCESSFUL").count() == 10)
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()
    assert AgentStats.objects.get(agent=agent).total_requests == 10


def test_one_worker_process_holds_ten_slow_turns_at_once(worker_process, owner):
    agent = make_agent(owner, "slow-3")
    worker_process()
    time.sleep(1.5)  # worker started and its sandbox pool warm
    started = time.monotonic()
    runs = [chat(agent, owner, f"slow {n}") for n in range(10)]

    finished = [wait_final(run.pk, timeout=30) for run in runs]
    elapsed = time.monotonic() - started

    assert {run.status for run in finished} == {"succeeded"}
    # As many turns in flight at once as the worker has slots (8): read from the runs' own
    # start and end times, not from the wall clock, which a busy machine stretches.
    edges = sorted(
        [(run.started_at, 1) for run in finished] + [(run.finished_at, -1) for run in finished]
    )
    in_flight = peak = 0
    for _at, step in edges:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak >= 8, f"at most {peak} turns at once; ten 3-second turns took {elapsed:.1f}s"
