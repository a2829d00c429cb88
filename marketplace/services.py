"""Marketplace services.

The agents engine asks the marketplace three questions through these functions; they answer
from listings and rentals once those exist (the marketplace issue fills them in). Until
then no agent is listed or rented, so the honest answers are empty.
"""

from django.db.models import QuerySet


def rented_agent_ids(*, user) -> list[int] | QuerySet:
    """Ids of agents the user holds an unexpired rental of."""
    return []


def listed_agent_ids() -> list[int] | QuerySet:
    """Ids of agents with an active listing (visible read-only to everyone)."""
    return []


def agent_delete_blockers(*, agent) -> list[str]:
    """Why the agent cannot be deleted now (unexpired rentals of other users)."""
    return []


def agent_listing_withdraw(*, agent, by) -> None:
    """Withdraw the agent's active listing, if any (called before deleting an agent)."""
    return None


def rental_expiries(*, user) -> dict:
    """{agent_id: expires_at} of the user's unexpired rentals (for the dashboard)."""
    return {}


def agent_panel_context(*, agent, user) -> dict:
    """What the agent page's marketplace panel needs (listing, rentals, actions)."""
    return {}
