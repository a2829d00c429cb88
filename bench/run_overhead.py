"""What the platform adds to a chat turn.

(a) bare: a 2-step CodeAgent.run in this process with a scripted model (no HTTP, no DB);
(b) platform: the same 2-step turn through Agentbay: POST /api/v1/agents/{id}/chat → task
    row → `manage.py run_worker` (a separate process, as in production) → the real
    OpenAIServerModel against a local fake OpenAI-compatible server → sandbox child → steps
    stored → the run seen final in the database.
Overhead = (b) − (a), per percentile, the two measured alternately. Runs on a throwaway
SQLite database unless DATABASE_URL is set.

    .venv/bin/python bench/run_overhead.py [--turns 30]
"""

import argparse
import statistics
import time

from harness import percentile, platform, running_agent


def bare_turns(n: int) -> list[float]:
    from smolagents import CodeAgent
    from smolagents.models import ChatMessage, MessageRole, Model
    from smolagents.monitoring import LogLevel, TokenUsage

    from tests.fake_openai import TWO_STEP

    class ScriptedModel(Model):
        def __init__(self):
            super().__init__(model_id="scripted")
            self.responses = list(TWO_STEP)

        def generate(self, messages, stop_sequences=None, response_format=None, **kwargs):
            return ChatMessage(
                role=MessageRole.ASSISTANT,
                content=self.responses.pop(0),
                token_usage=TokenUsage(input_tokens=20, output_tokens=8),
            )

    times = []
    for _ in range(n):
        started = time.perf_counter()
        agent = CodeAgent(tools=[], model=ScriptedModel(), verbosity_level=LogLevel.OFF)
        assert agent.run("What is 6 times 7?") == "The answer is 42"
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    with platform() as (env, _workers):
        from django.test import Client

        from accounts.services import token_create
        from agents.models import Run

        user, agent = running_agent("two-step")
        _token, raw = token_create(user=user, name="bench")
        client = Client(headers={"Authorization": f"Bearer {raw}"})

        def platform_turn() -> float:
            started = time.perf_counter()
            response = client.post(
                f"/api/v1/agents/{agent.pk}/chat",
                {"message": "What is 6 times 7?"},
                content_type="application/json",
            )
            assert response.status_code == 202, response.content
            run_id = response.json()["id"]
            while not (run := Run.objects.only("status", "output").get(pk=run_id)).is_final:
                time.sleep(0.002)
            elapsed = (time.perf_counter() - started) * 1000
            assert run.status == "succeeded" and run.output == "The answer is 42", run.status
            assert run.steps.count() == 2
            return elapsed

        # A/B interleaved (a bare turn, then a platform turn, and again), so a machine that
        # slows down or speeds up mid-run moves both series alike. Each pair starts after a
        # pause: the worker's clean-up after a turn (off its latency path) is then over and
        # takes no CPU from the next bare turn.
        bare, turns = [], []
        for n in range(args.warmup + args.turns):
            time.sleep(0.1)
            a, b = bare_turns(1), platform_turn()
            if n >= args.warmup:
                bare += a
                turns.append(b)

    a50, a95 = statistics.median(bare), percentile(bare, 0.95)
    b50, b95 = statistics.median(turns), percentile(turns, 0.95)
    print(f"bare      p50={a50:7.1f} ms  p95={a95:7.1f} ms  (in-process CodeAgent.run)")
    print(f"platform  p50={b50:7.1f} ms  p95={b95:7.1f} ms  (API → worker → sandbox → DB)")
    print(f"database  {env['DATABASE_URL'].split('://')[0]}")
    print(
        f"run_overhead bare_p50_ms={a50:.1f} platform_p50_ms={b50:.1f} "
        f"overhead_p50_ms={b50 - a50:.1f} overhead_p95_ms={b95 - a95:.1f} turns={args.turns}"
    )


if __name__ == "__main__":
    main()
