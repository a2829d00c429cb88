"""Who may see an agent's stats and ratings (one helper for views and the API)."""

from django.http import Http404


def rateable_agent(user, agent_id: int):
    """The agent if `user` may see its stats: it is visible to them (owned, rented or
    listed, the agents app's rule) or they ran it before, so a past renter can still rate
    it. None otherwise: strangers get a 404, never a hint that it exists."""
    from agents.models import Agent

    if not user.is_authenticated:
        return None
    agents = Agent.objects.select_related("owner", "stats")
    return (
        agents.visible_to(user).filter(pk=agent_id).first()
        or agents.filter(pk=agent_id, runs__user=user).distinct().first()
    )


def get_agent_or_404(user, agent_id: int):
    agent = rateable_agent(user, agent_id)
    if agent is None:
        raise Http404("No such agent.")
    return agent
