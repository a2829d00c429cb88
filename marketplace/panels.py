"""Reads that build the marketplace's panel on the agent page (registered with the agents
app's panel registry in MarketplaceConfig.ready). Nothing here writes."""

from django.http import HttpRequest

from agents import panels as agent_panels
from agents.models import Agent

from .models import Listing, Rental, Transaction


def agent_panel_context(*, agent: Agent, user) -> dict:
    """What the agent page's marketplace panel needs (listing, rentals, actions)."""
    listing = Listing.objects.active().for_agent(agent).first()
    is_owner = agent.is_owned_by(user)
    rentals = Rental.objects.unexpired().filter(agent=agent)
    return {
        "listing": listing,
        "is_owner": is_owner,
        # The panel shows the owner's figures or the viewer's rental, never both: each
        # viewer pays only for the queries of their half (issue 13).
        "my_rental_expires_at": (
            None if is_owner else Rental.objects.expiry_for(user=user, agent_id=agent.pk)
        ),
        "renters": rentals.values("renter_id").distinct().count() if is_owner else 0,
        "sales": (
            Transaction.objects.filter(listing__agent=agent, listing__seller=user).count()
            if is_owner
            else 0
        ),
    }


def _agent_detail_panel(request: HttpRequest, agent: Agent) -> dict:
    return {"agent": agent, "marketplace": agent_panel_context(agent=agent, user=request.user)}


def register() -> None:
    agent_panels.register(
        "agent_detail",
        name="marketplace",
        template="marketplace/_agent_panel.html",
        context=_agent_detail_panel,
        order=20,
    )
