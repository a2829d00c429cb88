"""Demo history for `manage.py seed_demo`: agents at several levels, with ratings and
achievements.

Everything goes through the agents' and our own services, exactly as real use would:
runs are started, claimed and finished (run_finish counts them through record_run), and
ratings come from demo users who rent the agent (marketplace.demo) after running it.
Works whether or not the agents and marketplace demos made agents: without any, it makes
its own. Idempotent: warm-up runs carry a marker and are made once per agent and user.
"""

from django.db import transaction

from accounts.models import User

from .models import AgentStats, Rating
from .services import achievements_sync

MARK = "Demo warm-up:"
# Successful two-step runs per agent, by the agent's place among the demo agents, so the
# demo shows a spread of levels: 70 runs = 1,050 XP (level 5), 30 = level 3, 12 = level 2.
TIERS = [70, 30, 12, 5, 2]
RATINGS = {5: "Exactly what I needed, and fast.", 4: "Good answers; once it took a detour."}
OWN_AGENTS = [
    ("alice", "Level demo: Summariser", "Summarises text in three bullet points."),
    ("bob", "Level demo: Calculator", "Does arithmetic step by step."),
    ("carol", "Level demo: Planner", "Plans a week of tasks."),
]


def _demo_agents():
    from agents.models import Agent

    owners = User.objects.filter(username__in=["alice", "bob", "carol"])
    return list(Agent.objects.filter(owner__in=owners).select_related("owner").order_by("pk"))


def _make_own_agents(log) -> None:
    from agents.services import agent_create, agent_start
    from agents.validation import AgentConfig

    for username, name, description in OWN_AGENTS:
        owner = User.objects.filter(username=username).first()
        if owner is None:
            continue
        config = AgentConfig(name=name, description=description, model="openai:gpt-4o-mini")
        agent = agent_create(owner=owner, config=config)
        agent_start(agent=agent, by=owner)
        log(f"  agent {name} owner {username} (made here: no demo agents yet)")


def _warm_up(agent, user, count: int) -> int:
    """`count` successful two-step runs of `agent` by `user`, through the agents' services."""
    from agents import services as agents
    from agents.models import Run

    done = Run.objects.filter(agent=agent, user=user, message__startswith=MARK).count()
    for number in range(done, count):
        run = agents.run_start(agent=agent, user=user, message=f"{MARK} question {number + 1}")
        # Finished right here, so the queued task finds nothing to claim and does nothing.
        run = agents.run_claim(run_id=run.pk, worker_id="seed_demo")
        agents.run_step_record(run=run, index=1, kind="action", text="Working it out.")
        agents.run_step_record(run=run, index=2, kind="final_answer", text="Done.")
        agents.run_finish(run=run, status=Run.Status.SUCCEEDED, output="Done.")
    return max(count - done, 0)


@transaction.atomic
def seed(log) -> None:
    from agents.models import Agent
    from agents.services import agent_start, agent_stop

    from .services import rating_save

    achievements_sync()
    agents = _demo_agents()
    if not agents:
        _make_own_agents(log)
        agents = _demo_agents()
    if not agents:
        log("  skipped: no demo users (accounts demo did not run)")
        return
    users = list(User.objects.filter(username__in=["alice", "bob", "carol"]))
    for place, agent in enumerate(agents):
        stopped = agent.state == Agent.State.STOPPED
        if agent.state != Agent.State.RUNNING:
            agent = agent_start(agent=agent, by=agent.owner)
            if agent.state != Agent.State.RUNNING:
                continue  # its configuration no longer validates; leave it be
        runs = _warm_up(agent, agent.owner, TIERS[place] if place < len(TIERS) else 1)
        rated = 0
        # Renters (from the marketplace demo) run it once, then rate it.
        for number, user in enumerate(u for u in users if u.pk != agent.owner_id):
            if not agent.is_usable_by(user):
                continue
            runs += _warm_up(agent, user, 1)
            stars = 5 if (place + number) % 2 == 0 else 4
            if not Rating.objects.filter(agent=agent, user=user).exists():
                rating_save(agent=agent, user=user, stars=stars, comment=RATINGS[stars])
                rated += 1
        if stopped:
            agent_stop(agent=agent, by=agent.owner)  # as the agents demo left it
        stats = AgentStats.objects.get(agent=agent)
        note = f"+{runs} runs, +{rated} ratings" if runs or rated else "[exists]"
        log(
            f"  agent {agent.name:<24} level {stats.level:<2} {stats.experience_points:>5} XP "
            f"{len(stats.achievement_codes):>2} achievements  {note}"
        )
