"""Demo agents with past conversations, so the platform looks alive offline.

Runs are finalised through agents.services.run_finish, so stats, XP and achievements are
counted exactly as for real turns. The steps are what a real model produced for these
questions; no model is needed to look at them.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from . import services
from .models import Agent, Conversation, Run
from .validation import AgentConfig


def _step(index: int, thought: str, code: str, observation: str, final: bool) -> dict:
    now = timezone.now().timestamp()
    model_output = f"Thought: {thought}\n<code>\n{code}\n</code>"
    return {
        "kind": "final_answer" if final else "action",
        "text": thought,
        "code": code,
        "observation": observation,
        "duration_ms": 900 + 350 * index,
        "input_tokens": 1800 + 400 * index,
        "output_tokens": 60 + 10 * index,
        "memory": {
            "kind": "action",
            "step_number": index,
            "timing": {"start_time": now, "end_time": now + 1},
            "model_output": model_output,
            "code_action": code,
            "observations": observation,
            "tool_calls": [],
            "error": None,
            "model_output_message": None,
            "action_output": None,
            "token_usage": {"input_tokens": 1800 + 400 * index, "output_tokens": 60 + 10 * index},
            "is_final_answer": final,
        },
    }


def _turn(question: str, steps: list[tuple[str, str, str]], answer: str) -> tuple:
    built = [
        _step(i, thought, code, obs, final=i == len(steps))
        for i, (thought, code, obs) in enumerate(steps, start=1)
    ]
    return question, built, answer


DEMO_AGENTS = [
    {
        "owner": "alice",
        "name": "Unit Wizard",
        "description": "Converts between units, and explains the arithmetic.",
        "tools": ["unit_convert"],
        "model": "openai:gpt-4o-mini",
        "allowed_imports": ["math"],
        "state": "running",
        "conversations": [
            [
                _turn(
                    "How many miles is a half marathon?",
                    [
                        (
                            "A half marathon is 21.0975 km; I will convert it to miles.",
                            'miles = unit_convert(value=21.0975, from_unit="km", to_unit="mi")\n'
                            "print(miles)",
                            "Execution logs:\n13.109375\nLast output from code snippet:\nNone",
                        ),
                        (
                            "I have the distance in miles.",
                            'final_answer(f"A half marathon is {miles:.2f} miles.")',
                            "Last output from code snippet:\nA half marathon is 13.11 miles.",
                        ),
                    ],
                    "A half marathon is 13.11 miles.",
                ),
                _turn(
                    "And a full one?",
                    [
                        (
                            "A full marathon is twice the distance: 42.195 km.",
                            'miles = unit_convert(value=42.195, from_unit="km", to_unit="mi")\n'
                            'final_answer(f"{miles:.2f} miles")',
                            "Last output from code snippet:\n26.22 miles",
                        ),
                    ],
                    "26.22 miles",
                ),
            ],
            [
                _turn(
                    "What is 100 °F in Celsius?",
                    [
                        (
                            "The formula is (F − 32) × 5/9.",
                            "celsius = (100 - 32) * 5 / 9\nfinal_answer(round(celsius, 1))",
                            "Last output from code snippet:\n37.8",
                        ),
                    ],
                    "37.8",
                ),
            ],
        ],
    },
    {
        "owner": "bob",
        "name": "Text Analyst",
        "description": "Counts words, sentences and reading time of any text you paste.",
        "tools": ["text_stats"],
        "model": "hf:Qwen/Qwen2.5-Coder-32B-Instruct",
        "allowed_imports": ["statistics"],
        "state": "running",
        "conversations": [
            [
                _turn(
                    "How long does it take to read: 'Simple is better than complex. "
                    "Complex is better than complicated.'?",
                    [
                        (
                            "I will get the text statistics first.",
                            'stats = text_stats(text="Simple is better than complex. '
                            'Complex is better than complicated.")\nprint(stats)',
                            "Execution logs:\n{'words': 10, 'sentences': 2, 'characters': 66, "
                            "'reading_seconds': 3}\nLast output from code snippet:\nNone",
                        ),
                        (
                            "Ten words read in about three seconds.",
                            "seconds, words = stats['reading_seconds'], stats['words']\n"
                            'final_answer(f"About {seconds} seconds ({words} words).")',
                            "Last output from code snippet:\nAbout 3 seconds (10 words).",
                        ),
                    ],
                    "About 3 seconds (10 words).",
                ),
            ],
        ],
    },
    {
        "owner": "carol",
        "name": "Calendar Clerk",
        "description": "Counts days between dates for deadlines and trips.",
        "tools": ["days_between"],
        "model": "openai:llama3.1",
        "allowed_imports": ["datetime"],
        "state": "stopped",
        "conversations": [
            [
                _turn(
                    "How many days from 2026-01-01 to 2026-03-01?",
                    [
                        (
                            "The days_between tool does exactly this.",
                            'final_answer(days_between(start="2026-01-01", end="2026-03-01"))',
                            "Last output from code snippet:\n59",
                        ),
                    ],
                    "59",
                ),
            ],
        ],
    },
]


def _record_turn(agent: Agent, conversation: Conversation, turn: tuple, when) -> None:
    question, steps, answer = turn
    duration = timedelta(milliseconds=sum(s["duration_ms"] for s in steps) + 400)
    run = Run.objects.create(
        conversation=conversation,
        agent=agent,
        user=conversation.user,
        message=question,
        status=Run.Status.RUNNING,
        # Started `duration` ago, so run_finish measures and counts a realistic time.
        started_at=timezone.now() - duration,
    )
    for index, step in enumerate(steps, start=1):
        services.run_step_record(run=run, index=index, **step)
    services.run_finish(
        run=run,
        status=Run.Status.SUCCEEDED,
        output=answer,
        input_tokens=sum(s["input_tokens"] for s in steps),
        output_tokens=sum(s["output_tokens"] for s in steps),
    )
    # Then move it into the past, as a living platform's history would be.
    Run.objects.filter(pk=run.pk).update(
        created_at=when, started_at=when, finished_at=when + duration
    )


@transaction.atomic
def seed(log) -> None:
    now = timezone.now()
    for number, spec in enumerate(DEMO_AGENTS):
        owner = User.objects.get(username=spec["owner"])
        if Agent.objects.filter(owner=owner, name=spec["name"]).exists():
            log(f"  agent {spec['name']:<16} owner {owner}  [exists]")
            continue
        agent = services.agent_create(
            owner=owner,
            config=AgentConfig(
                name=spec["name"],
                description=spec["description"],
                tools=spec["tools"],
                model=spec["model"],
                allowed_imports=spec["allowed_imports"],
                metadata={"demo": True},
            ),
        )
        services.agent_start(agent=agent, by=owner)
        turns = 0
        for c_number, turns_spec in enumerate(spec["conversations"]):
            conversation = Conversation.objects.create(
                agent=agent, user=owner, title=turns_spec[0][0][:120]
            )
            for t_number, turn in enumerate(turns_spec):
                when = now - timedelta(days=6 - number - c_number, minutes=30 - 5 * t_number)
                _record_turn(agent, conversation, turn, when)
                turns += 1
        if spec["state"] == "stopped":
            services.agent_stop(agent=agent, by=owner)
        log(f"  agent {spec['name']:<16} owner {owner}  {spec['state']}, {turns} past turns")
