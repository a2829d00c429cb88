"""Gamification's reactions to the agents app's domain events (agents/signals.py).

Each receiver only calls a gamification service, inside the sender's transaction."""

from . import services


def agent_created(sender, *, agent, **kwargs) -> None:
    services.agent_stats_create(agent=agent)


def run_finished(sender, *, run, **kwargs) -> None:
    services.record_run(run=run)
