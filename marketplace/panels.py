"""Reads that build the marketplace's panel on the agent page (registered with the agents
app's panel registry in MarketplaceConfig.ready). Nothing here writes."""

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from agents import panels as agent_panels
from agents.models import Agent
from core.pagecache import row_version, rows_version

from .models import Listing, Rental, Transaction


def agent_panel_context(*, agent: Agent, user) -> dict:
    """What the agent page's marketplace panel needs (listing, rentals, actions)."""
    listing = Listing.objects.active().for_agent(agent).first()
    is_owner = agent.is_owned_by(user)
    return {
        "listing": listing,
        "is_owner": is_owner,
        # The panel shows the owner's figures or the viewer's rental, never both: each
        # viewer pays only for the queries of their half (issue 13).
        "my_rental_expires_at": (
            None if is_owner else Rental.objects.expiry_for(user=user, agent_id=agent.pk)
        ),
        **(_owner_counts(agent, user) if is_owner else {"renters": 0, "sales": 0}),
    }


def _owner_counts(agent: Agent, user) -> dict:
    """The owner's figures, in one query: renters with an unexpired rental, and the sales
    and rentals of the agent's listings by this owner."""
    renters = (
        Rental.objects.unexpired()
        .filter(agent=OuterRef("pk"))
        .order_by()
        .values("agent")
        .annotate(n=Count("renter", distinct=True))
        .values("n")
    )
    sales = (
        Transaction.objects.filter(listing__agent=OuterRef("pk"), listing__seller=user)
        .order_by()
        .values("listing__agent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Agent.objects.filter(pk=agent.pk)
        .values(renters=Coalesce(Subquery(renters), 0), sales=Coalesce(Subquery(sales), 0))
        .get()
    )


def _agent_detail_panel(request: HttpRequest, agent: Agent) -> dict:
    return {"agent": agent, "marketplace": agent_panel_context(agent=agent, user=request.user)}


def _agent_detail_fingerprint() -> list[str]:
    """What the panel shows (core.pagecache): the active listing (bids move its price and
    count), the viewer's rentals, the unexpired renters and the sales."""
    listings, rentals = Listing._meta.db_table, Rental._meta.db_table
    transactions = Transaction._meta.db_table
    return [
        rows_version(
            f"SELECT {row_version('l')} AS v FROM {listings} l WHERE l.agent_id = %(agent)s"
            " AND l.status = 'active'"
        ),
        rows_version(
            f"SELECT {row_version('r')} AS v FROM {rentals} r WHERE r.agent_id = %(agent)s"
            " AND r.renter_id = %(viewer)s AND r.expires_at > %(now)s"
        ),
        f"SELECT count(*) FROM {rentals} r WHERE r.agent_id = %(agent)s AND r.expires_at > %(now)s",
        f"SELECT count(*) FROM {transactions} t JOIN {listings} l ON l.id = t.listing_id"
        " WHERE l.agent_id = %(agent)s",
    ]


def register() -> None:
    agent_panels.register(
        "agent_detail",
        name="marketplace",
        template="marketplace/_agent_panel.html",
        context=_agent_detail_panel,
        order=20,
        fingerprint=_agent_detail_fingerprint(),
    )
