"""Marketplace services: the only writers of listings, wallets, the ledger and rentals.

Money rules (docs/DESIGN.md "Money", docs/API.md):
- credits are Decimal with 2 places; the fee is MARKETPLACE_FEE_PERCENT of the price,
  rounded half-up to the cent, and the seller receives exactly price − fee, so the three
  entries of a trade (buyer −price, seller +price−fee, platform +fee) always sum to zero;
- only grants (signup bonus, admin grant) create credits, so at any time
  sum(wallet balances) + platform account = sum(grants);
- purchases lock, in this order: the agent, the listing, then the buyer's and the
  seller's wallets by ascending id (then the agent's stats, in gamification). Every writer
  that takes more than one of these locks takes them in that order (listing, withdrawing
  and agents.services.agent_delete lock the agent before the listing), so two trades never
  wait on each other in a cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import User
from agents.models import Agent
from agents.services import activity_log, agent_transfer
from core.errors import Conflict, Forbidden, Invalid, PaymentRequired
from gamification.services import record_sale

from .models import CENT, MAX_PRICE, LedgerEntry, Listing, Rental, Transaction, Wallet, cents

logger = logging.getLogger(__name__)

MAX_RENTAL_DAYS = 365
MAX_GRANT = Decimal("1000000000.00")


# --- money helpers ------------------------------------------------------------------------


def money(value) -> Decimal:
    """A price or amount as a 2-place Decimal; Invalid if it has more places or is not a number."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise Invalid("Enter an amount like 12.50.") from None
    if not amount.is_finite():
        raise Invalid("Enter an amount like 12.50.")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise Invalid("Use at most 2 decimal places.")
    return amount.quantize(CENT)


def fee_for(price: Decimal) -> Decimal:
    """The platform's cut: MARKETPLACE_FEE_PERCENT of the price, half-up to the cent."""
    percent = Decimal(settings.MARKETPLACE_FEE_PERCENT)
    return (price * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


# --- wallets -------------------------------------------------------------------------------


def wallet_create(*, user: User) -> Wallet:
    """The user's wallet, created with SIGNUP_CREDITS the first time (idempotent).

    Called for every new user by the post_save receiver in apps.py, and lazily by
    wallet_for() as a safety net for users created without signals (bulk_create, raw SQL).
    """
    with transaction.atomic():
        wallet, created = Wallet.objects.get_or_create(user=user)
        if created:
            bonus = money(settings.SIGNUP_CREDITS)
            if bonus > 0:
                _entry(wallet, bonus, LedgerEntry.Kind.SIGNUP_BONUS, note="Welcome credits")
                Wallet.objects.filter(pk=wallet.pk).update(balance=bonus)
                wallet.balance = bonus
    return wallet


def wallet_for(*, user: User) -> Wallet:
    wallet = Wallet.objects.filter(user=user).first()
    return wallet if wallet is not None else wallet_create(user=user)


def _entry(wallet: Wallet | None, amount: Decimal, kind: str, *, txn=None, note="") -> None:
    LedgerEntry.objects.create(wallet=wallet, amount=amount, kind=kind, transaction=txn, note=note)


@transaction.atomic
def wallet_grant(*, user: User, amount, by: User | None, note: str = "") -> LedgerEntry:
    """Credit a user's wallet (staff, through the admin). Creates credits: a grant."""
    amount = money(amount)
    if amount <= 0 or amount > MAX_GRANT:
        raise Invalid(f"Grant between 0.01 and {MAX_GRANT}.")
    wallet_for(user=user)
    wallet = Wallet.objects.select_for_update().get(user=user)
    text = (note.strip() or "Credits granted")[:150]
    entry = LedgerEntry.objects.create(
        wallet=wallet,
        amount=amount,
        kind=LedgerEntry.Kind.ADMIN_GRANT,
        note=f"{text} (by {getattr(by, 'username', 'system')})",
    )
    wallet.balance += amount
    wallet.save(update_fields=["balance", "updated_at"])
    return entry


@dataclass(frozen=True)
class WalletSummary:
    balance: Decimal
    earned: Decimal
    spent: Decimal


def wallet_summary(*, user: User) -> WalletSummary:
    """Balance, income from sales and rentals, and what was paid for purchases and rentals."""
    wallet = wallet_for(user=user)
    sums = wallet.entries.aggregate(
        earned=Sum("amount", filter=Q(kind__in=LedgerEntry.INCOME)),
        spent=Sum("amount", filter=Q(kind__in=LedgerEntry.SPENDING)),
    )
    return WalletSummary(
        balance=wallet.balance, earned=cents(sums["earned"]), spent=-cents(sums["spent"])
    )


def platform_balance() -> Decimal:
    return LedgerEntry.objects.platform().total()


# --- listings ------------------------------------------------------------------------------


def _check_terms(listing_type: str, price, rental_days: int | None) -> tuple[Decimal, int | None]:
    if listing_type not in Listing.Type.values:
        raise Invalid("Listing type is sale or rent.")
    price = money(price)
    if price <= 0 or price > MAX_PRICE:
        raise Invalid(f"The price must be more than 0 and at most {MAX_PRICE:,}.")
    if listing_type == Listing.Type.RENT:
        if rental_days is None or not 1 <= rental_days <= MAX_RENTAL_DAYS:
            raise Invalid(f"A rental lasts 1 to {MAX_RENTAL_DAYS} days.")
    elif rental_days is not None:
        raise Invalid("Only rent listings have rental days.")
    return price, rental_days


def lock_agent(*, agent_id: int | None) -> Agent | None:
    """Lock the agent's row for the rest of the transaction: it serialises listing,
    delisting, buying and deleting of that agent. None when it is gone."""
    if agent_id is None:
        return None
    return Agent.objects.select_for_update().filter(pk=agent_id).first()


def lock_agent_then_listing(*, listing: Listing) -> Listing:
    """Lock the listing's agent, then the listing, and return the listing as locked: the
    one lock order of every writer that takes both (module docstring)."""
    lock_agent(agent_id=listing.agent_id)
    return Listing.objects.select_for_update().get(pk=listing.pk)


@transaction.atomic
def listing_create(
    *, agent: Agent, seller: User, listing_type: str, price, rental_days: int | None = None
) -> Listing:
    """List the seller's agent for sale or rent: owner only, one active listing per agent."""
    price, rental_days = _check_terms(listing_type, price, rental_days)
    locked = lock_agent(agent_id=agent.pk)
    if locked is None:
        raise Conflict("This agent no longer exists.")
    agent = locked
    if agent.owner_id != seller.pk:
        raise Forbidden("Only the agent's owner can list it.")
    if Listing.objects.active().for_agent(agent).exists():
        raise Conflict(f"“{agent.name}” already has an active listing; withdraw it first.")
    try:
        with transaction.atomic():
            listing = Listing.objects.create(
                agent=agent,
                agent_name=agent.name,
                seller=seller,
                listing_type=listing_type,
                price=price,
                rental_days=rental_days,
            )
    except IntegrityError:
        raise Conflict(f"“{agent.name}” already has an active listing.") from None
    terms = f"for {rental_days} day(s)" if rental_days else "for sale"
    activity_log(agent=agent, actor=seller, verb="listed", detail=f"{terms} at {price} credits")
    return listing


@transaction.atomic
def listing_withdraw(*, listing: Listing, by: User, reason: str = "") -> Listing:
    """Take an active listing off the market (its seller, or staff through the admin)."""
    if not (listing.is_sold_by(by) or getattr(by, "is_staff", False)):
        raise Forbidden("Only the seller can withdraw this listing.")
    return _withdraw(listing, by, reason)


def _withdraw(listing: Listing, by: User | None, reason: str) -> Listing:
    # Agent first, as in a purchase: the activity row below needs a key-share lock on the
    # agent, and taking it after the listing's lock could deadlock with a buyer.
    listing = lock_agent_then_listing(listing=listing)
    if not listing.is_active:
        raise Conflict(f"This listing is already {listing.status}.")
    listing.status = Listing.Status.WITHDRAWN
    listing.status_reason = reason[:200]
    listing.closed_at = timezone.now()
    listing.save(update_fields=["status", "status_reason", "closed_at", "updated_at"])
    if listing.agent is not None:
        detail = "Withdrawn" + (f": {reason}" if reason else "")
        activity_log(agent=listing.agent, actor=by, verb="unlisted", detail=detail)
    return listing


# --- purchases and rentals ----------------------------------------------------------------


def _existing(buyer, idempotency_key: str | None, listing_id: int) -> Transaction | None:
    if not idempotency_key:
        return None
    txn = Transaction.objects.filter(buyer=buyer, idempotency_key=idempotency_key).first()
    if txn is not None and txn.listing_id != listing_id:
        raise Conflict("This idempotency key was already used for another listing.")
    return txn


def listing_purchase(
    *,
    listing: Listing,
    buyer: User,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Transaction:
    """Buy (sale) or rent (rent) a listing, paying its price from the buyer's wallet.

    A repeated idempotency key returns the first transaction and charges nothing, also
    when the retry races the first request (the unique constraint decides).
    """
    idempotency_key = idempotency_key or None
    txn = _existing(buyer, idempotency_key, listing.pk)
    if txn is not None:
        return txn
    try:
        return _purchase(listing=listing, buyer=buyer, idempotency_key=idempotency_key, now=now)
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back whole.
        txn = _existing(buyer, idempotency_key, listing.pk)
        if txn is None:
            raise
        return txn


@transaction.atomic
def _purchase(*, listing: Listing, buyer: User, idempotency_key: str | None, now) -> Transaction:
    # Lock order (module docstring): agent, listing, wallets by id.
    listing = lock_agent_then_listing(listing=listing)
    # Re-check everything now that nobody else can change it, starting with the key: a
    # concurrent retry that waited for our lock must find the first result, not a 409.
    txn = _existing(buyer, idempotency_key, listing.pk)
    if txn is not None:
        return txn
    if listing.seller_id == buyer.pk:
        raise Conflict("This is your own listing.")
    seller = listing.seller
    if not listing.is_active or listing.agent_id is None or seller is None:
        raise Conflict(f"This listing is no longer available (it is {listing.status}).")
    agent = Agent.objects.get(pk=listing.agent_id)
    if agent.owner_id == buyer.pk:
        raise Conflict("You already own this agent.")
    wallet_for(user=buyer)
    wallet_for(user=seller)
    wallets = {
        w.user_id: w
        for w in Wallet.objects.select_for_update()
        .filter(user_id__in=[buyer.pk, listing.seller_id])
        .order_by("pk")
    }
    buyer_wallet, seller_wallet = wallets[buyer.pk], wallets[listing.seller_id]
    price = listing.price
    if buyer_wallet.balance < price:
        raise PaymentRequired(
            f"Not enough credits: this costs {price}, your balance is {buyer_wallet.balance}."
        )

    now = now or timezone.now()
    fee = fee_for(price)
    income = price - fee
    is_rent = listing.is_rent
    expires_at: datetime | None = None
    starts_at = now
    if listing.rental_days is not None:  # rent listings, and only they, have days
        # Renting again extends the current rental instead of overlapping it.
        current = (
            Rental.objects.unexpired(now)
            .filter(agent=agent, renter=buyer)
            .order_by("-expires_at")
            .first()
        )
        starts_at = current.expires_at if current else now
        expires_at = starts_at + timedelta(days=listing.rental_days)
    txn = Transaction.objects.create(
        buyer=buyer,
        listing=listing,
        kind=Transaction.Kind.RENTAL if is_rent else Transaction.Kind.PURCHASE,
        amount=price,
        fee=fee,
        idempotency_key=idempotency_key,
        expires_at=expires_at,
        created_at=now,
    )
    kinds = LedgerEntry.Kind
    name = listing.agent_name
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                wallet=buyer_wallet,
                amount=-price,
                kind=kinds.RENTAL if is_rent else kinds.PURCHASE,
                transaction=txn,
                note=f"{'Rented' if is_rent else 'Bought'} {name}"[:200],
                created_at=now,
            ),
            LedgerEntry(
                wallet=seller_wallet,
                amount=income,
                kind=kinds.RENTAL_INCOME if is_rent else kinds.SALE_INCOME,
                transaction=txn,
                note=f"{'Rental' if is_rent else 'Sale'} of {name} to {buyer.username}"[:200],
                created_at=now,
            ),
        ]
        + (
            [LedgerEntry(wallet=None, amount=fee, kind=kinds.FEE, transaction=txn, created_at=now)]
            if fee
            else []
        )
    )
    buyer_wallet.balance -= price
    seller_wallet.balance += income
    for wallet in (buyer_wallet, seller_wallet):
        wallet.save(update_fields=["balance", "updated_at"])

    if expires_at is not None:
        Rental.objects.create(
            agent=agent, renter=buyer, transaction=txn, starts_at=starts_at, expires_at=expires_at
        )
        activity_log(
            agent=agent,
            actor=buyer,
            verb="rented",
            detail=f"Rented by {buyer.username} until {expires_at:%Y-%m-%d %H:%M} UTC",
        )
        _schedule_cleanup(expires_at)
    else:
        listing.status = Listing.Status.SOLD
        listing.closed_at = now
        listing.save(update_fields=["status", "closed_at", "updated_at"])
        agent_transfer(agent=agent, to_user=buyer, by=buyer)
    record_sale(agent=agent, amount=income, kind="rental" if is_rent else "sale")
    return txn


def _schedule_cleanup(expires_at: datetime) -> None:
    from .tasks import rentals_cleanup

    def enqueue() -> None:
        try:
            rentals_cleanup.using(run_after=expires_at).enqueue()
        except Exception:
            # Cleanup is housekeeping: access already ends at expires_at without it.
            logger.exception("Could not schedule the rental cleanup")

    transaction.on_commit(enqueue)


def rentals_cleanup(*, now: datetime | None = None) -> int:
    """Delete expired rentals (their transactions keep the history). Returns how many."""
    deleted, _ = Rental.objects.expired(now).delete()
    return deleted


# --- reactions to the agents app's events (receivers.py) -----------------------------------


def agent_delete_blockers(*, agent: Agent) -> list[str]:
    """Why the agent cannot be deleted now: unexpired rentals of other users."""
    rentals = Rental.objects.unexpired().filter(agent=agent).exclude(renter_id=agent.owner_id)
    last = rentals.order_by("-expires_at").values_list("expires_at", flat=True).first()
    if last is None:
        return []
    renters = rentals.values("renter_id").distinct().count()
    return [
        f"{renters} user(s) rent this agent until {last:%Y-%m-%d %H:%M} UTC; "
        "it can be deleted once their rentals expire."
    ]


def agent_listing_withdraw(*, agent: Agent, by: User) -> None:
    """Withdraw the agent's active listing, if any (called before deleting an agent)."""
    listing = Listing.objects.active().for_agent(agent).first()
    if listing is not None:
        # The caller (agent_delete) holds the agent's lock and checked ownership.
        with transaction.atomic():
            _withdraw(listing, by, "Agent deleted")
