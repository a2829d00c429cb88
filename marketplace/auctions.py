"""Auctions: English auctions with proxy bids backed by held credits (docs/API.md "Auctions").

- An auction is a Listing of type "auction": `price` is the start price, `reserve_price`
  the hidden reserve, `ends_at` the end (moved by soft close), `current_price` the price the
  bids set, `leading_bid` the bid that leads and `bids_count` the bids accepted.
- Proxy rule: with one bidder the price is the start price; with more, the lower of the
  highest maximum and the second-highest + AUCTION_INCREMENT; equal maxima: the earlier bid
  leads. `min_next_bid` is the start price before any bid, then current_price + increment.
- Only the leading bid holds credits: its bidder's wallet holds its maximum (a HOLD entry,
  models.py: holds). A bid that takes the lead holds its maximum and releases the previous
  leader's in the same transaction; a leader raising their maximum holds the difference; a
  bid that does not take the lead holds nothing (the bidder's available credits must still
  cover it). So at any time a wallet's `held` = the maxima of the bids it leads.
- Locks (services.py docstring): a bid locks the listing, then the wallets it holds or
  releases by ascending user id; settlement the agent (SKIP LOCKED: another worker or a
  writer has it; the next tick retries), the listing, then the winner's and the seller's
  wallets by ascending user id. A bid and the settlement serialise on the listing's lock:
  a bid accepted before the end (possibly moving it) is seen by the settlement, which
  re-reads `ends_at` under the lock; a bid after the settlement finds the listing closed.
- Settlement is one transaction per auction whose conditional UPDATE (status active →
  sold/unsold) is its key: a second worker, a retry or a crash mid-way (all rolled back)
  settles it exactly once. The winner pays through the same ledger path as a purchase (a
  Transaction with buyer −price, seller +price − fee, platform +fee) and the agent moves by
  agents.services.agent_transfer; the seller's stats and achievements follow after the
  commit (services._settle, effects_pending, purchases_settle as for purchases).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import notify
from agents.models import Agent
from agents.services import activity_log, agent_transfer
from core.errors import Conflict, Invalid, PaymentRequired
from gamification.services import record_auction_sale

from . import services
from .models import MAX_PRICE, Bid, LedgerEntry, Listing, Transaction, Wallet

logger = logging.getLogger(__name__)

MAX_AUCTION_DAYS = 30


def increment() -> Decimal:
    return services.money(settings.AUCTION_INCREMENT)


def auction_url(listing: Listing) -> str:
    return reverse("marketplace:listing_detail", args=[listing.pk])


def min_next_bid(listing: Listing) -> Decimal:
    if listing.leading_bid_id is None:
        return listing.price
    return (listing.current_price or listing.price) + increment()


# --- creating ------------------------------------------------------------------------------


@transaction.atomic
def auction_create(
    *,
    agent: Agent,
    seller: User,
    price,
    ends_at: datetime,
    reserve_price=None,
    now: datetime | None = None,
) -> Listing:
    """Put the seller's agent up for auction: owner only, one active listing per agent."""
    now = now or timezone.now()
    price = services.money(price)
    if price <= 0 or price > MAX_PRICE:
        raise Invalid(f"The start price must be more than 0 and at most {MAX_PRICE:,}.")
    if reserve_price is not None:
        reserve_price = services.money(reserve_price)
        if reserve_price < price or reserve_price > MAX_PRICE:
            raise Invalid("The reserve price must be at least the start price.")
    if ends_at is None:
        raise Invalid("An auction needs ends_at.")
    if timezone.is_naive(ends_at):
        ends_at = ends_at.replace(tzinfo=UTC)
    shortest = timedelta(seconds=settings.AUCTION_MIN_SECONDS)
    if not now + shortest <= ends_at <= now + timedelta(days=MAX_AUCTION_DAYS):
        raise Invalid(
            f"An auction ends between {settings.AUCTION_MIN_SECONDS} seconds and "
            f"{MAX_AUCTION_DAYS} days from now."
        )
    agent = services.lock_listable(agent=agent, seller=seller, verb="auction")
    try:
        with transaction.atomic():
            listing = Listing.objects.create(
                agent=agent,
                agent_name=agent.name,
                seller=seller,
                listing_type=Listing.Type.AUCTION,
                price=price,
                current_price=price,
                reserve_price=reserve_price,
                ends_at=ends_at,
            )
    except IntegrityError:
        raise Conflict(f"“{agent.name}” already has an active listing.") from None
    activity_log(
        agent=agent,
        actor=seller,
        verb="listed",
        detail=f"auction from {price} credits, ending {ends_at:%Y-%m-%d %H:%M} UTC",
    )
    return listing


# --- bidding -------------------------------------------------------------------------------


def _existing_bid(bidder: User, key: str | None, listing_id: int) -> Bid | None:
    if not key:
        return None
    bid = Bid.objects.filter(bidder=bidder, idempotency_key=key).first()
    if bid is not None and bid.listing_id != listing_id:
        raise Conflict("This idempotency key was already used for another listing.")
    return bid


def auction_bid(
    *,
    listing: Listing,
    bidder: User,
    max_amount,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Bid:
    """Bid up to `max_amount` on an auction (the proxy rule bids for the bidder up to it).

    A repeated idempotency key returns the first bid and changes nothing, also when the
    retry races the first request (the key is looked up under the listing's lock, and the
    unique constraint catches the rest)."""
    max_amount = services.money(max_amount)
    if max_amount <= 0 or max_amount > MAX_PRICE:
        raise Invalid(f"A maximum bid is more than 0 and at most {MAX_PRICE:,}.")
    key = idempotency_key or None
    try:
        return _bid(listing=listing, bidder=bidder, max_amount=max_amount, key=key, now=now)
    except IntegrityError:
        first = _existing_bid(bidder, key, listing.pk)
        if first is None:
            raise
        return first


@transaction.atomic
def _bid(*, listing: Listing, bidder: User, max_amount: Decimal, key: str | None, now) -> Bid:
    listing = Listing.objects.select_for_update(no_key=True).get(pk=listing.pk)
    first = _existing_bid(bidder, key, listing.pk)
    if first is not None:
        return first
    now = now or timezone.now()
    if not listing.is_auction:
        raise Conflict("This listing is not an auction.")
    if listing.seller_id == bidder.pk:
        raise Conflict("You cannot bid on your own auction.")
    assert listing.ends_at is not None and listing.current_price is not None
    if not listing.is_active or listing.agent_id is None or now >= listing.ends_at:
        raise Conflict("This auction has ended.")
    lowest = min_next_bid(listing)
    if max_amount < lowest:
        raise Conflict(f"The next bid must be at least {lowest}.")

    wallet = services.wallet_for(user=bidder)
    leading = (
        Bid.objects.select_related("bidder").get(pk=listing.leading_bid_id)
        if listing.leading_bid_id
        else None
    )
    note = f"Bid on {listing.agent_name} (auction {listing.pk})"
    short = PaymentRequired(
        f"Not enough credits: a maximum of {max_amount} needs that much available."
    )
    price: Decimal
    outbid: User | None = None  # the previous leader, told once the bid is stored
    if leading is None:
        # The first bid leads at the start price and holds its maximum.
        if not services.hold_place(wallet_id=wallet.pk, amount=max_amount, note=note, now=now):
            raise short
        price, takes_lead = listing.price, True
    elif leading.wallet_id == wallet.pk:
        # The leader raises their own maximum: hold the new one instead of the old.
        if max_amount <= leading.max_amount:
            raise Conflict(f"Your maximum is already {leading.max_amount}; bid above it.")
        services.hold_release(bid=leading, note=f"Raised: {note}", now=now)
        if not services.hold_place(wallet_id=wallet.pk, amount=max_amount, note=note, now=now):
            raise short  # rolls the release back with it
        second = (
            Bid.objects.filter(listing=listing)
            .exclude(wallet_id=wallet.pk)
            .aggregate(top=Max("max_amount"))["top"]
        )
        price = (
            listing.price
            if second is None
            else max(listing.current_price, min(max_amount, services.money(second) + increment()))
        )
        takes_lead = True
    elif max_amount > leading.max_amount:
        # A new leader: hold the new maximum, release the old, wallets by user id.
        mine = (bidder.pk, "hold")
        theirs = (leading.bidder_id if leading.bidder_id is not None else 2**63, "release")
        for _user, action in sorted([mine, theirs]):
            if action == "hold":
                if not services.hold_place(
                    wallet_id=wallet.pk, amount=max_amount, note=note, now=now
                ):
                    raise short
            else:
                services.hold_release(bid=leading, note=f"Outbid: {note}", now=now)
        price, takes_lead = min(max_amount, leading.max_amount + increment()), True
        outbid = leading.bidder
    else:
        # Not enough to lead (equal maxima: the earlier bid leads): it only raises the price.
        if Wallet.objects.get(pk=wallet.pk).available < max_amount:
            raise short
        price, takes_lead = min(leading.max_amount, max_amount + increment()), False

    soft = timedelta(seconds=settings.AUCTION_SOFT_CLOSE_SECONDS)
    ends_at = max(listing.ends_at, now + soft) if listing.ends_at - now < soft else listing.ends_at
    bid = Bid.objects.create(
        listing=listing,
        bidder=bidder,
        wallet=wallet,
        max_amount=max_amount,
        amount=price,
        leading=takes_lead,
        idempotency_key=key,
        created_at=now,
    )
    listing.current_price = price
    listing.ends_at = ends_at
    listing.bids_count += 1
    fields = ["current_price", "ends_at", "bids_count", "updated_at"]
    if takes_lead:
        listing.leading_bid = bid
        fields.append("leading_bid")
    listing.save(update_fields=fields)
    bid.listing = listing
    if outbid is not None:
        # In the bid's transaction: the notice exists exactly when the bid does.
        notify(
            user=outbid,
            text=f"You were outbid on {listing.agent_name}: the price is now {price} credits.",
            url=auction_url(listing),
        )
    return bid


# --- settlement ----------------------------------------------------------------------------


def auctions_due(*, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Ids of active auctions past their end, oldest end first (a plain read)."""
    return list(
        Listing.objects.filter(
            status=Listing.Status.ACTIVE,
            listing_type=Listing.Type.AUCTION,
            ends_at__lte=now or timezone.now(),
        )
        .order_by("ends_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def auctions_settle_due(*, now: datetime | None = None) -> int:
    """Settle every auction that has ended (the worker's periodic job). Safe with any
    number of workers at once. Returns how many this call settled."""
    done = 0
    for listing_id in auctions_due(now=now):
        try:
            done += auction_settle(listing_id=listing_id, now=now) is not None
        except Exception:
            logger.exception("Settling auction %s failed; the next tick retries", listing_id)
    return done


def auction_settle(*, listing_id: int, now: datetime | None = None) -> str | None:
    """Close one ended auction: "sold" or "unsold", or None when there was nothing to do
    (not due, already settled, or its agent locked by someone else: try again later)."""
    txn_and_effects = _settle_locked(listing_id=listing_id, now=now)
    if txn_and_effects is None:
        return None
    status, effects = txn_and_effects
    if effects is not None:
        transaction.on_commit(effects)
    return status


@transaction.atomic
def _settle_locked(*, listing_id: int, now: datetime | None):
    agent_id = Listing.objects.filter(pk=listing_id).values_list("agent_id", flat=True).first()
    agent = None
    if agent_id is not None:
        # The claim: the first lock of the order (agent, listing, wallets). Another worker
        # settling it, or a writer of the agent, holds it: skip, the next tick retries.
        agent = Agent.objects.select_for_update(skip_locked=True).filter(pk=agent_id).first()
        if agent is None:
            return None
    listing = Listing.objects.select_for_update().filter(pk=listing_id).first()
    now = now or timezone.now()
    if (
        listing is None
        or not listing.is_active
        or not listing.is_auction
        or listing.ends_at is None
        or listing.ends_at > now
        or listing.agent_id != agent_id
    ):
        return None
    leading = (
        Bid.objects.select_related("bidder").get(pk=listing.leading_bid_id)
        if listing.leading_bid_id
        else None
    )
    winner = leading.bidder if leading is not None else None
    sells = (
        agent is not None
        and winner is not None
        and listing.seller_id is not None
        and agent.owner_id == listing.seller_id
        and winner.pk != listing.seller_id
        and listing.reserve_met
    )
    status = Listing.Status.SOLD if sells else Listing.Status.UNSOLD
    # The key of the settlement: only one transaction moves it out of "active".
    closed = Listing.objects.filter(pk=listing.pk, status=Listing.Status.ACTIVE).update(
        status=status, closed_at=now, updated_at=now
    )
    if not closed:
        return None
    note = f"Auction of {listing.agent_name} ended"
    url = auction_url(listing)
    if not sells:
        reason = "no bids" if leading is None else "reserve not met"
        if leading is not None:
            services.hold_release(bid=leading, note=note, now=now)
            notify(
                user=winner,
                text=f"The auction of {listing.agent_name} ended unsold ({reason}); "
                "your hold is released.",
                # Closed, the auction is its seller's and buyer's only: the wallet shows it.
                url=reverse("marketplace:wallet_detail"),
            )
        if agent is not None:
            activity_log(
                agent=agent, actor=None, verb="unlisted", detail=f"Auction unsold: {reason}"
            )
        # The notices commit with the settlement's status change: exactly once.
        notify(
            user=listing.seller,
            text=f"Your auction of {listing.agent_name} ended unsold ({reason}).",
            url=url,
        )
        return status, None
    assert leading is not None and winner is not None and agent is not None
    price = listing.current_price
    assert price is not None and listing.seller_id is not None
    fee = services.fee_for(price)
    # A fork's royalty, as for a sale (services._purchase): its parent's current owner gets
    # FORK_ROYALTY_PERCENT out of the seller's income, unless they are the winner or seller.
    payee = (
        Agent.objects.filter(pk=agent.forked_from_id).values_list("owner_id", flat=True).first()
        if agent.forked_from_id
        else None
    )
    royalty = services.ZERO
    if payee is not None and payee not in (winner.pk, listing.seller_id):
        royalty = services.royalty_for(price, fee)
    income = price - fee - royalty
    txn = Transaction.objects.create(
        buyer=winner,
        listing=listing,
        kind=Transaction.Kind.PURCHASE,
        amount=price,
        fee=fee,
        created_at=now,
        effects_pending=True,
    )
    credits = {listing.seller_id: income}
    if royalty:
        credits[payee] = royalty
    wallet_ids: dict[int, int | None] = {}
    for user_id in sorted((winner.pk, *credits)):  # the trade lock order: by user id
        if user_id == winner.pk:
            # Release the maximum and pay the price in one statement.
            services.hold_release(bid=leading, note=note, now=now, pay=price)
            continue
        wallet_ids[user_id] = services._wallet_add(user_id, credits[user_id], now)
        if wallet_ids[user_id] is None:
            services.wallet_create(user=User(pk=user_id))
            wallet_ids[user_id] = services._wallet_add(user_id, credits[user_id], now)
    seller_wallet_id = wallet_ids[listing.seller_id]
    kinds = LedgerEntry.Kind
    entries = [
        {
            "wallet_id": leading.wallet_id,
            "amount": -price,
            "kind": kinds.PURCHASE,
            "note": f"Won the auction of {listing.agent_name}"[:200],
        },
        {
            "wallet_id": seller_wallet_id,
            "amount": income,
            "kind": kinds.SALE_INCOME,
            "note": f"Auction of {listing.agent_name} won by {winner.username}"[:200],
        },
    ]
    if fee:
        entries.append({"wallet_id": None, "amount": fee, "kind": kinds.FEE, "note": ""})
    if royalty:
        entries.append(
            {
                "wallet_id": wallet_ids[payee],
                "amount": royalty,
                "kind": kinds.ROYALTY,
                "note": f"Royalty: auction of the fork {listing.agent_name}"[:200],
            }
        )
    services._insert(
        LedgerEntry, [{**entry, "transaction_id": txn.pk, "created_at": now} for entry in entries]
    )
    agent_transfer(agent=agent, to_user=winner, by=winner)
    notify(
        user=winner,
        text=f"You won the auction of {listing.agent_name} for {price} credits. It is yours now.",
        url=url,
    )
    notify(
        user=listing.seller,
        text=f"Your auction of {listing.agent_name} sold to {winner.username} for {price} credits.",
        url=url,
    )
    effects = partial(_auction_effects, txn=txn, agent_id=agent.pk, buyer=winner)
    return status, effects


def _auction_effects(*, txn: Transaction, agent_id: int, buyer: User) -> None:
    """After a sold auction commits: the sale's effects as for a purchase (earnings, XP,
    first sale) and, claimed with them in one transaction (so exactly once), the auction
    counter behind the auction achievements (gamification.record_auction_sale)."""
    try:
        with transaction.atomic():
            if services._settle(txn, agent_id, buyer):
                record_auction_sale(agent=Agent(pk=agent_id))
    except Exception:
        logger.exception("Auction sale %s: its stats wait for purchases_settle", txn.pk)


def auction_payload(listing: Listing) -> dict | None:
    """The Listing object's "auction" part (docs/API.md); the reserve itself never shows."""
    if not listing.is_auction:
        return None
    leading = listing.leading_bid if listing.leading_bid_id else None
    leader = leading.bidder.username if leading is not None and leading.bidder else None
    return {
        "current_price": f"{listing.current_price:.2f}",
        "min_next_bid": f"{min_next_bid(listing):.2f}",
        "leader": leader,
        "bids_count": listing.bids_count,
        "ends_at": listing.ends_at,
        "reserve_met": listing.reserve_met,
    }
