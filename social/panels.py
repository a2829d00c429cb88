"""Social's panels on the agents app's pages (registered in SocialConfig.ready): lineage,
the fork button and collaborator management on the agent page; Share/Revoke under a run the
viewer started. Nothing here writes."""

from django.http import HttpRequest

from agents import panels as agent_panels
from agents.models import Agent, Run
from core.pagecache import related_table, row_version, rows_version

from .models import Collaborator, FeedEvent, Follow, ShareLink

PUBLIC_FORKS_SHOWN = 20


def _agent_detail_panel(request: HttpRequest, agent: Agent) -> dict:
    user = request.user
    is_owner = agent.is_owned_by(user)
    return {
        "agent": agent,
        "is_owner": is_owner,
        "can_fork": user.is_authenticated and (is_owner or agent.is_public),
        # Annotated by the agent page's query (AgentQuerySet.with_forks_count).
        "forks_count": (
            agent.forks_total if hasattr(agent, "forks_total") else agent.forks.count()
        ),
        # Its public forks (private ones are their owners' business), newest first.
        "public_forks": list(
            agent.forks.filter(visibility=Agent.Visibility.PUBLIC)
            .select_related("owner")
            .order_by("-created_at")[:PUBLIC_FORKS_SHOWN]
        ),
        "collaborators": (
            list(Collaborator.objects.filter(agent=agent).select_related("user"))
            if is_owner
            else []
        ),
        "roles": Collaborator.Role.choices,
    }


def _run_contexts(request: HttpRequest, runs: list[Run]) -> dict:
    user = request.user
    mine = [run.pk for run in runs if user.is_authenticated and run.user_id == user.pk]
    links = {link.run_id: link for link in ShareLink.objects.active().filter(run_id__in=mine)}
    return {pk: {"run_pk": pk, "link": links.get(pk)} for pk in mine}


def _run_final_panel(request: HttpRequest, run: Run) -> dict | None:
    return _run_contexts(request, [run]).get(run.pk)


# How many of the feed's newest events the dashboard shows (the feed page has them all).
DASHBOARD_FEED_SIZE = 5


def _dashboard_panel(request: HttpRequest, user) -> dict:
    events = FeedEvent.objects.for_follower(user).select_related("actor")
    return {"events": list(events[:DASHBOARD_FEED_SIZE])}


def _agent_detail_fingerprint() -> list[str]:
    """What the panel shows (core.pagecache): the public forks listed, with their owners'
    names, and the collaborators, with theirs (the forks count is the agent page's)."""
    agents, collaborators = Agent._meta.db_table, Collaborator._meta.db_table
    users = related_table(Agent, "owner")
    return [
        rows_version(
            f"SELECT {row_version('f', 'u')} AS v FROM {agents} f"
            f" JOIN {users} u ON u.id = f.owner_id WHERE f.forked_from_id = %(agent)s"
            " AND f.visibility = 'public' ORDER BY f.created_at DESC"
            f" LIMIT {PUBLIC_FORKS_SHOWN}"
        ),
        rows_version(
            f"SELECT {row_version('c', 'u')} AS v FROM {collaborators} c"
            f" JOIN {users} u ON u.id = c.user_id WHERE c.agent_id = %(agent)s"
        ),
    ]


def _dashboard_fingerprint() -> list[str]:
    """What the feed panel shows (core.pagecache): the newest events of followed users, with
    their actors' names."""
    events, follows = FeedEvent._meta.db_table, Follow._meta.db_table
    users = related_table(FeedEvent, "actor")
    return [
        rows_version(
            f"SELECT {row_version('e', 'u')} AS v FROM {events} e"
            f" JOIN {users} u ON u.id = e.actor_id WHERE e.actor_id IN"
            f" (SELECT f.followee_id FROM {follows} f WHERE f.follower_id = %(viewer)s)"
            f" ORDER BY e.created_at DESC, e.id DESC LIMIT {DASHBOARD_FEED_SIZE}"
        ),
    ]


def register() -> None:
    agent_panels.register(
        "dashboard",
        name="social-feed",
        template="social/_dashboard_feed.html",
        context=_dashboard_panel,
        fingerprint=_dashboard_fingerprint(),
    )
    agent_panels.register(
        "agent_detail",
        name="social",
        template="social/_agent_panel.html",
        context=_agent_detail_panel,
        order=30,
        fingerprint=_agent_detail_fingerprint(),
    )
    agent_panels.register(
        "run_final",
        name="social",
        template="social/_run_panel.html",
        context=_run_final_panel,
        batch=_run_contexts,
        order=200,
    )
