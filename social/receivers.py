"""Social's reactions to other apps' domain events (agents/signals.py,
marketplace/signals.py). Each receiver only calls a social service, inside the sender's
transaction."""

from . import services
from .models import FeedEvent


def agent_transferred(sender, *, agent, previous_owner, **kwargs) -> None:
    # A sale removes every collaborator: the new owner chooses their own.
    services.collaborators_clear(agent=agent)
    services.feed_record(actor=previous_owner, verb=FeedEvent.Verb.SOLD_AGENT, agent_id=agent.pk)


def agent_published(sender, *, agent, by, **kwargs) -> None:
    services.feed_record(actor=by, verb=FeedEvent.Verb.PUBLISHED_AGENT, agent_id=agent.pk)


def agent_forked(sender, *, agent, by, **kwargs) -> None:
    services.feed_record(actor=by, verb=FeedEvent.Verb.FORKED_AGENT, agent_id=agent.pk)


def listing_created(sender, *, listing, **kwargs) -> None:
    services.feed_record(
        actor=listing.seller,
        verb=FeedEvent.Verb.LISTED_AGENT,
        agent_id=listing.agent_id,
        listing_id=listing.pk,
    )


def competition_won(sender, *, competition, entry, **kwargs) -> None:
    services.feed_record(
        actor=entry.owner,
        verb=FeedEvent.Verb.WON_COMPETITION,
        agent_id=entry.agent_id,
        competition_id=competition.pk,
    )
