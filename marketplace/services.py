"""Marketplace services: the only writers of listings, wallets, the ledger and rentals.

Money rules (docs/DESIGN.md "Money", docs/API.md):
- credits are Decimal with 2 places; the fee is MARKETPLACE_FEE_PERCENT of the price,
  rounded half-up to the cent, and the seller receives exactly price − fee, so the three
  entries of a trade (buyer −price, seller +price−fee, platform +fee) always sum to zero;
- only grants (signup bonus, admin grant) create credits, so at any time
  sum(wallet balances) + platform account = sum(grants);
- a fork sold or rented pays FORK_ROYALTY_PERCENT of the price (half-up to the cent) to the
  current owner of the agent it was forked from, out of the seller's income (buyer −price,
  seller +price−fee−royalty, parent's owner +royalty, platform +fee: still zero); one level
  up only, none when the parent is gone or its owner is the buyer or the seller;
- purchases lock, in this order: the agent, the listing, then the buyer's, the seller's
  (and a royalty payee's) wallets by ascending user id. Every writer that takes more than
  one of these locks takes them in that order (listing, withdrawing and agents.services.agent_delete
  lock the agent before the listing; a bid locks the listing, then the wallets it holds
  or releases by ascending user id; an auction's settlement the agent, the listing, then
  the winner's and the seller's wallets), so two trades never wait on each other in a cycle;
- purchases and bids spend a wallet's `available` credits (balance − held, models.py:
  holds); holds and releases are the wallet primitives `_wallet_hold` below, auctions
  themselves live in marketplace/auctions.py;
- a purchase is a handful of statements under those locks (the wallets are conditional
  UPDATEs: a balance never goes below zero, and the database's constraint agrees); what
  is not money or ownership (the rental's activity row, the seller's stats, XP and
  achievements, the rental's cleanup task) runs after the commit, in the same request,
  exactly once per transaction (`effects_pending` is claimed with the effects), and
  `purchases_settle` finishes what a crash or an error left pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model, Q, Sum
from django.utils import timezone

from accounts.models import User
from agents.models import Agent
from agents.services import activity_log, agent_transfer
from core.errors import Conflict, Forbidden, Invalid, PaymentRequired
from gamification.services import record_sale

from . import signals
from .models import (
    CENT,
    MAX_PRICE,
    Bid,
    LedgerEntry,
    Listing,
    Rental,
    Transaction,
    Wallet,
    cents,
)

logger = logging.getLogger(__name__)

MAX_RENTAL_DAYS = 365
MAX_GRANT = Decimal("1000000000.00")
ZERO = Decimal("0.00")


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


def royalty_for(price: Decimal, fee: Decimal) -> Decimal:
    """The fork royalty: FORK_ROYALTY_PERCENT of the price, half-up to the cent, out of the
    seller's income; capped so the seller keeps at least a cent (ledger amounts are never
    zero)."""
    percent = Decimal(settings.FORK_ROYALTY_PERCENT)
    royalty = (price * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return max(ZERO, min(royalty, price - fee - CENT))


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
    held: Decimal = Decimal("0.00")

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


def wallet_summary(*, user: User) -> WalletSummary:
    """Balance, income from sales and rentals, and what was paid for purchases and rentals."""
    wallet = wallet_for(user=user)
    sums = wallet.entries.aggregate(
        earned=Sum("amount", filter=Q(kind__in=LedgerEntry.INCOME)),
        spent=Sum("amount", filter=Q(kind__in=LedgerEntry.SPENDING)),
    )
    return WalletSummary(
        balance=wallet.balance,
        earned=cents(sums["earned"]),
        spent=-cents(sums["spent"]),
        held=wallet.held,
    )


def platform_balance() -> Decimal:
    return LedgerEntry.objects.platform().total()


# --- listings ------------------------------------------------------------------------------


def _check_terms(listing_type: str, price, rental_days: int | None) -> tuple[Decimal, int | None]:
    if listing_type not in (Listing.Type.SALE, Listing.Type.RENT):
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


def lock_listable(*, agent: Agent, seller: User, verb: str) -> Agent:
    """The agent, locked (the first lock of the trade order), once it is the seller's and has
    no active listing: what every new listing (sale, rental, auction) needs."""
    locked = lock_agent(agent_id=agent.pk)
    if locked is None:
        raise Conflict("This agent no longer exists.")
    if locked.owner_id != seller.pk:
        raise Forbidden(f"Only the agent's owner can {verb} it.")
    if Listing.objects.active().for_agent(locked).exists():
        raise Conflict(f"“{locked.name}” already has an active listing; withdraw it first.")
    return locked


@transaction.atomic
def listing_create(
    *, agent: Agent, seller: User, listing_type: str, price, rental_days: int | None = None
) -> Listing:
    """List the seller's agent for sale or rent: owner only, one active listing per agent."""
    price, rental_days = _check_terms(listing_type, price, rental_days)
    agent = lock_listable(agent=agent, seller=seller, verb="list")
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
    signals.listing_created.send(sender=Listing, listing=listing)
    return listing


@transaction.atomic
def listing_withdraw(*, listing: Listing, by: User, reason: str = "") -> Listing:
    """Take an active listing off the market (its seller, or staff through the admin). An
    auction with bids can be cancelled by staff only; its leader's hold is released."""
    staff = getattr(by, "is_staff", False)
    if not (listing.is_sold_by(by) or staff):
        raise Forbidden("Only the seller can withdraw this listing.")
    return _withdraw(listing, by, reason, cancel_bids=staff)


def _withdraw(listing: Listing, by: User | None, reason: str, *, cancel_bids=False) -> Listing:
    # Agent first, as in a purchase: the activity row below needs a key-share lock on the
    # agent, and taking it after the listing's lock could deadlock with a buyer.
    listing = lock_agent_then_listing(listing=listing)
    if not listing.is_active:
        raise Conflict(f"This listing is already {listing.status}.")
    if listing.leading_bid_id is not None:
        if not cancel_bids:
            raise Conflict("This auction has bids: it ends at its time, or staff cancel it.")
        leading = Bid.objects.get(pk=listing.leading_bid_id)
        hold_release(bid=leading, note=f"Auction of {listing.agent_name} cancelled")
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
    # Asked on every purchase with a key and nearly always answered "none": plain SQL on
    # the unique index, the ORM only for a hit.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, listing_id FROM {Transaction._meta.db_table} "
            "WHERE buyer_id = %s AND idempotency_key = %s",
            [buyer.pk, idempotency_key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if row[1] != listing_id:
        raise Conflict("This idempotency key was already used for another listing.")
    return Transaction.objects.get(pk=row[0])


def listing_purchase(
    *,
    listing: Listing,
    buyer: User,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Transaction:
    """Buy (sale) or rent (rent) a listing, paying its price from the buyer's wallet.

    A repeated idempotency key returns the first transaction and charges nothing, also
    when the retry races the first request. The key is looked up only when the purchase
    cannot go through (a retry finds the listing sold, the agent its own, the credits
    spent: the first result, not a 409 or 402) or when the unique constraint refuses the
    new transaction; either way the attempt rolled back whole first.

    The money, the ownership and the rental commit together in `_purchase`, a few
    statements under the locks; the activity log, XP and achievements follow right after
    the commit, in this request (`_settle`), so they never hold those locks.
    """
    idempotency_key = idempotency_key or None
    try:
        txn, settle = _purchase(
            listing=listing, buyer=buyer, idempotency_key=idempotency_key, now=now
        )
    except (IntegrityError, Conflict, PaymentRequired):
        # Ours rolled back whole; a request with the same key may have committed first
        # (possibly while we waited for the listing's lock).
        first = _existing(buyer, idempotency_key, listing.pk)
        if first is None:
            raise
        return first
    # After the outermost commit (at once when there is no outer transaction); never when
    # it rolls back. A failure there is logged: the money has moved, and purchases_settle()
    # finishes the effects later, exactly once.
    transaction.on_commit(settle)
    return txn


def _lock_sql(*, no_key: bool) -> str:
    """The row lock clause, or nothing on SQLite (which serialises writers). NO KEY UPDATE
    still excludes every other writer of the row, but not a concurrent insert of a row that
    references it (an activity, a rental, a ledger entry)."""
    features = connection.features
    if not features.has_select_for_update:
        return ""
    return (
        " FOR NO KEY UPDATE" if no_key and features.has_select_for_no_key_update else " FOR UPDATE"
    )


def _wallet_add(user_id: int, amount: Decimal, now: datetime) -> int | None:
    """Add `amount` (negative: a payment) to the user's wallet unless that would take its
    available credits (balance − held) below zero; the wallet's id, or None (no wallet, or
    not enough credits). The UPDATE takes the row's lock. ROUND keeps SQLite, which
    computes in floating point, on cents."""
    table = Wallet._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = ROUND(balance + %s, 2), updated_at = %s "
            "WHERE user_id = %s AND balance - held + %s >= 0 RETURNING id",
            [amount, connection.ops.adapt_datetimefield_value(now), user_id, amount],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def escrow_move(*, user_id: int, amount: Decimal, kind: str, note: str) -> bool:
    """Move `amount` from the user's available credits into the competitions' escrow
    (negative `amount`: from the escrow to the user); False when the user's available
    credits do not cover it. Two ledger entries summing to zero: the wallet's (`kind`) and
    the escrow's (no wallet, COMPETITION_ESCROW). One wallet per call; callers paying
    several lock them by ascending user id (module docstring)."""
    now = timezone.now()
    if _wallet_add(user_id, -amount, now) is None:
        return False
    wallet_id = Wallet.objects.filter(user_id=user_id).values_list("pk", flat=True).get()
    escrow = LedgerEntry.Kind.COMPETITION_ESCROW
    rows = [(wallet_id, -amount, kind), (None, amount, escrow)]
    _insert(
        LedgerEntry,
        [
            {
                "wallet_id": w,
                "amount": a,
                "kind": k,
                "transaction_id": None,
                "note": note[:200],
                "created_at": now,
            }
            for w, a, k in rows
        ],
    )
    return True


def escrow_fee(*, amount: Decimal, note: str) -> None:
    """Pay the platform's fee out of the competitions' escrow."""
    now = timezone.now()
    rows = [(-amount, LedgerEntry.Kind.COMPETITION_ESCROW), (amount, LedgerEntry.Kind.FEE)]
    _insert(
        LedgerEntry,
        [
            {
                "wallet_id": None,
                "amount": a,
                "kind": k,
                "transaction_id": None,
                "note": note[:200],
                "created_at": now,
            }
            for a, k in rows
        ],
    )


def escrow_balance() -> Decimal:
    return LedgerEntry.objects.escrow().total()


def _wallet_hold(wallet_id: int, delta: Decimal, now: datetime, *, pay: Decimal = ZERO) -> bool:
    """Hold `delta` more of the wallet's credits (negative: release), and take `pay` from
    its balance, unless that would leave held or available credits below zero; False then.
    One conditional UPDATE, which takes the row's lock (callers lock wallets by ascending
    user id: module docstring)."""
    table = Wallet._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET held = ROUND(held + %s, 2), balance = ROUND(balance - %s, 2), "
            "updated_at = %s WHERE id = %s AND held + %s >= 0 AND balance - %s - held - %s >= 0",
            [
                delta,
                pay,
                connection.ops.adapt_datetimefield_value(now),
                wallet_id,
                delta,
                pay,
                delta,
            ],
        )
        return cursor.rowcount == 1


def hold_place(*, wallet_id: int, amount: Decimal, note: str, now: datetime) -> bool:
    """Hold `amount` of the wallet's available credits (a HOLD entry of −amount); False
    when they do not cover it."""
    if not _wallet_hold(wallet_id, amount, now):
        return False
    _insert(
        LedgerEntry,
        [
            {
                "wallet_id": wallet_id,
                "amount": -amount,
                "kind": LedgerEntry.Kind.HOLD,
                "note": note[:200],
                "created_at": now,
            }
        ],
    )
    return True


def hold_release(
    *, bid: Bid, note: str, now: datetime | None = None, pay: Decimal | None = None
) -> None:
    """Release the hold of a leading bid (a RELEASE entry of +max_amount), and with `pay`
    take that much from the same wallet's balance in the same statement (a won auction:
    the PURCHASE entry is the caller's). The caller holds the auction's listing lock."""
    now = now or timezone.now()
    if not _wallet_hold(bid.wallet_id, -bid.max_amount, now, pay=pay or ZERO):
        # Cannot happen while the cached columns agree with the ledger: the database's
        # constraints would refuse it anyway.
        raise Conflict("This hold is not on the wallet any more.")
    _insert(
        LedgerEntry,
        [
            {
                "wallet_id": bid.wallet_id,
                "amount": bid.max_amount,
                "kind": LedgerEntry.Kind.RELEASE,
                "note": note[:200],
                "created_at": now,
            }
        ],
    )


def _pay(
    buyer: User,
    seller_id: int,
    price: Decimal,
    income: Decimal,
    now,
    royalty: tuple[int, Decimal] | None = None,
) -> dict[int, int]:
    """Move price from the buyer's wallet, income to the seller's and, with `royalty`
    (user id, amount), that amount to the parent agent's owner; user id → wallet id. The
    rows are locked in ascending user id order (module docstring)."""
    amounts = {buyer.pk: -price, seller_id: income}
    if royalty is not None:
        amounts[royalty[0]] = royalty[1]
    wallets: dict[int, int] = {}
    for user_id in sorted(amounts):
        amount = amounts[user_id]
        wallet_id = _wallet_add(user_id, amount, now)
        if wallet_id is None:
            wallet = Wallet.objects.filter(user_id=user_id).first()
            if wallet is None:  # a user created without signals: give them their wallet
                wallet_create(user=User(pk=user_id))
                wallet_id = _wallet_add(user_id, amount, now)
            if wallet_id is None:
                available = Wallet.objects.get(user_id=user_id).available
                raise PaymentRequired(
                    f"Not enough credits: this costs {price}, you have {available} available."
                )
        wallets[user_id] = wallet_id
    return wallets


def _insert(model: type[Model], rows: list[dict], *, returning: bool = False) -> int | None:
    """INSERT the rows (column → value) into the model's table in one statement; the id of
    the last one if `returning`. Under a purchase's locks the ORM's create() and
    bulk_create() spent about 1 ms of CPU on its rows, this a quarter of that; the table's
    constraints check the values all the same."""
    columns = list(rows[0])
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES " + ", ".join(
        [one] * len(rows)
    )
    params = [
        connection.ops.adapt_datetimefield_value(value) if isinstance(value, datetime) else value
        for row in rows
        for value in (row[column] for column in columns)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql + (" RETURNING id" if returning else ""), params)
        return cursor.fetchone()[0] if returning else None


@transaction.atomic
def _purchase(
    *, listing: Listing, buyer: User, idempotency_key: str | None, now
) -> tuple[Transaction, Callable[[], None]]:
    """The locked part of a purchase; returns the transaction and what to run after the
    commit."""
    # Lock order (module docstring): agent, listing, wallets. A sale changes the agent's
    # owner, so it takes the agent's full lock at once rather than upgrading it later.
    agents, listings = Agent._meta.db_table, Listing._meta.db_table
    agent_row = None
    with connection.cursor() as cursor:
        if listing.agent_id is not None:
            lock = _lock_sql(no_key=listing.is_rent)
            # The owner of the agent it was forked from, if any (the royalty's payee), is
            # read in the same statement without locking the parent: lineage only points
            # up, and the royalty goes to whoever owns the parent as of this statement.
            cursor.execute(
                f"SELECT a.owner_id, (SELECT p.owner_id FROM {agents} p "
                f"WHERE p.id = a.forked_from_id) FROM {agents} a WHERE a.id = %s{lock}",
                [listing.agent_id],
            )
            agent_row = cursor.fetchone()
        cursor.execute(
            f"SELECT agent_id, seller_id, status, price, rental_days, agent_name, listing_type "
            f"FROM {listings} WHERE id = %s" + _lock_sql(no_key=True),
            [listing.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise Conflict("This listing no longer exists.")
    agent_id, seller_id, status, price, rental_days, name, listing_type = row
    if listing_type == Listing.Type.AUCTION:
        raise Conflict("This agent is auctioned: bid on it instead.")
    price = cents(price)  # SQLite's raw rows hold floats
    # Re-check everything now that nobody else can change it (a repeated idempotency key
    # is found by listing_purchase when these refuse, or by the unique constraint).
    if seller_id == buyer.pk:
        raise Conflict("This is your own listing.")
    if status != Listing.Status.ACTIVE or agent_id is None or seller_id is None:
        raise Conflict(f"This listing is no longer available (it is {status}).")
    if agent_row is None or agent_id != listing.agent_id:
        raise Conflict("This listing is no longer available (its agent is gone).")
    if agent_row[0] == buyer.pk:
        raise Conflict("You already own this agent.")

    now = now or timezone.now()
    fee = fee_for(price)
    # A fork sold or rented pays FORK_ROYALTY_PERCENT to its parent's current owner, out of
    # the seller's income; one level up only, and none when the parent is gone or its owner
    # is the buyer or the seller.
    parent_owner_id = agent_row[1]
    royalty = ZERO
    if parent_owner_id is not None and parent_owner_id not in (buyer.pk, seller_id):
        royalty = royalty_for(price, fee)
    income = price - fee - royalty
    is_rent = rental_days is not None  # rent listings, and only they, have days
    expires_at: datetime | None = None
    starts_at = now
    if rental_days is not None:
        # Renting again extends the current rental instead of overlapping it.
        current = (
            Rental.objects.unexpired(now)
            .filter(agent_id=agent_id, renter=buyer)
            .order_by("-expires_at")
            .values_list("expires_at", flat=True)
            .first()
        )
        starts_at = current or now
        expires_at = starts_at + timedelta(days=rental_days)
    wallets = _pay(
        buyer, seller_id, price, income, now, (parent_owner_id, royalty) if royalty else None
    )
    buyer_wallet_id, seller_wallet_id = wallets[buyer.pk], wallets[seller_id]
    row = {
        "buyer_id": buyer.pk,
        "listing_id": listing.pk,
        "kind": Transaction.Kind.RENTAL if is_rent else Transaction.Kind.PURCHASE,
        "amount": price,
        "fee": fee,
        "idempotency_key": idempotency_key,
        "expires_at": expires_at,
        "created_at": now,
        "effects_pending": True,
    }
    txn = Transaction(**row)
    txn.pk = _insert(Transaction, [row], returning=True)
    txn._state.adding, txn._state.db = False, connection.alias
    kinds = LedgerEntry.Kind
    entries = [
        {
            "wallet_id": buyer_wallet_id,
            "amount": -price,
            "kind": kinds.RENTAL if is_rent else kinds.PURCHASE,
            "note": f"{'Rented' if is_rent else 'Bought'} {name}"[:200],
        },
        {
            "wallet_id": seller_wallet_id,
            "amount": income,
            "kind": kinds.RENTAL_INCOME if is_rent else kinds.SALE_INCOME,
            "note": f"{'Rental' if is_rent else 'Sale'} of {name} to {buyer.username}"[:200],
        },
    ]
    if fee:
        entries.append({"wallet_id": None, "amount": fee, "kind": kinds.FEE, "note": ""})
    if royalty:
        entries.append(
            {
                "wallet_id": wallets[parent_owner_id],
                "amount": royalty,
                "kind": kinds.ROYALTY,
                "note": f"Royalty: {'rental' if is_rent else 'sale'} of the fork {name}"[:200],
            }
        )
    _insert(
        LedgerEntry, [{**entry, "transaction_id": txn.pk, "created_at": now} for entry in entries]
    )
    if expires_at is not None:
        _insert(
            Rental,
            [
                {
                    "agent_id": agent_id,
                    "renter_id": buyer.pk,
                    "transaction_id": txn.pk,
                    "starts_at": starts_at,
                    "expires_at": expires_at,
                }
            ],
        )
    else:
        Listing.objects.filter(pk=listing.pk).update(
            status=Listing.Status.SOLD, closed_at=now, updated_at=now
        )
        # Ownership moves with the money (its "sold" activity is written by agents).
        agent_transfer(agent=Agent(pk=agent_id), to_user=buyer, by=buyer)
    return txn, partial(
        _settle_after_commit, txn=txn, agent_id=agent_id, buyer=buyer, royalty=royalty
    )


def _settle_after_commit(*, txn: Transaction, agent_id: int, buyer: User, royalty: Decimal) -> None:
    try:
        _settle(txn, agent_id, buyer, royalty=royalty)
    except Exception:
        logger.exception("Purchase %s: its activity and stats wait for purchases_settle", txn.pk)
    if txn.expires_at is not None:
        _schedule_cleanup(txn.expires_at)


@transaction.atomic
def _settle(
    txn: Transaction, agent_id: int | None, buyer: User | None, *, royalty: Decimal | None = None
) -> bool:
    """A purchase's effects besides money and ownership: the rental's activity row and
    the seller's earnings, XP and achievements (gamification). Exactly once per
    transaction: the claim below and the effects commit or roll back together. False
    when they were already done."""
    claimed = Transaction.objects.filter(pk=txn.pk, effects_pending=True).update(
        effects_pending=False
    )
    if not claimed or agent_id is None:  # done, or the agent was deleted since
        return False
    agent = Agent(pk=agent_id)
    is_rent = txn.kind == Transaction.Kind.RENTAL
    if is_rent and txn.expires_at is not None:
        renter = getattr(buyer, "username", "a deleted user")
        activity_log(
            agent=agent,
            actor=buyer,
            verb="rented",
            detail=f"Rented by {renter} until {txn.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    # The seller's income: price − fee, less a fork's royalty when one was paid (known
    # to the purchase that just committed; read back from the ledger when settling later).
    if royalty is None:
        royalty = cents(
            LedgerEntry.objects.filter(transaction=txn, kind=LedgerEntry.Kind.ROYALTY).aggregate(
                total=Sum("amount")
            )["total"]
        )
    record_sale(
        agent=agent, amount=txn.seller_income - royalty, kind="rental" if is_rent else "sale"
    )
    return True


def purchases_settle(*, older_than: timedelta = timedelta(minutes=5), limit: int = 500) -> int:
    """Finish the effects of purchases whose after-commit step failed or never ran (the
    process died): housekeeping, run with the rentals' cleanup. Returns how many."""
    cutoff = timezone.now() - older_than
    pending = (
        Transaction.objects.filter(effects_pending=True, created_at__lt=cutoff)
        .select_related("buyer")
        .annotate(agent_ref=F("listing__agent_id"))
        .order_by("created_at", "id")[:limit]
    )
    done = 0
    for txn in pending:
        try:
            done += _settle(txn, txn.agent_ref, txn.buyer)
        except Exception:
            logger.exception("Purchase %s: settling its effects failed", txn.pk)
    return done


# The whole hours at which this process has scheduled a rentals_cleanup task.
_cleanups_scheduled: set[datetime] = set()


def _schedule_cleanup(expires_at: datetime) -> None:
    """Make sure a rentals_cleanup task runs at the whole hour after `expires_at`: one task
    per hour per process, not one per rental (a rental's row outlives its expiry by at most
    an hour; access ends at expires_at regardless). Called after the purchase's commit."""
    from .tasks import rentals_cleanup

    run_after = expires_at.replace(minute=0, second=0, microsecond=0)
    if run_after < expires_at:
        run_after += timedelta(hours=1)
    if run_after in _cleanups_scheduled:
        return
    try:
        rentals_cleanup.using(run_after=run_after).enqueue()
    except Exception:
        # Cleanup is housekeeping: access already ends at expires_at without it.
        logger.exception("Could not schedule the rental cleanup")
        return
    now = timezone.now()
    _cleanups_scheduled.difference_update({hour for hour in _cleanups_scheduled if hour < now})
    _cleanups_scheduled.add(run_after)


def rentals_cleanup(*, now: datetime | None = None) -> int:
    """Delete expired rentals (their transactions keep the history). Returns how many."""
    deleted, _ = Rental.objects.expired(now).delete()
    return deleted


# --- reactions to the agents app's events (receivers.py) -----------------------------------


def agent_delete_blockers(*, agent: Agent) -> list[str]:
    """Why the agent cannot be deleted now: an active auction, unexpired rentals of other
    users."""
    if Listing.objects.active().for_agent(agent).filter(listing_type=Listing.Type.AUCTION).exists():
        return ["This agent is being auctioned; it can be deleted once the auction has ended."]
    rentals = Rental.objects.unexpired().filter(agent=agent).exclude(renter_id=agent.owner_id)
    last = rentals.order_by("-expires_at").values_list("expires_at", flat=True).first()
    if last is None:
        return []
    renters = rentals.values("renter_id").distinct().count()
    return [
        f"{renters} user(s) rent this agent until {last:%Y-%m-%d %H:%M} UTC; "
        "it can be deleted once their rentals expire."
    ]


def agent_transfer_check(*, agent: Agent) -> None:
    """Refuse a change of owner while the agent has an active auction (docs/API.md): the
    auction's own settlement closes the listing before it transfers the agent."""
    if Listing.objects.active().for_agent(agent).filter(listing_type=Listing.Type.AUCTION).exists():
        raise Conflict("This agent is being auctioned; its owner cannot change until it ends.")


def agent_listing_withdraw(*, agent: Agent, by: User) -> None:
    """Withdraw the agent's active listing, if any (called before deleting an agent)."""
    listing = Listing.objects.active().for_agent(agent).first()
    if listing is not None:
        # The caller (agent_delete) holds the agent's lock and checked ownership.
        with transaction.atomic():
            _withdraw(listing, by, "Agent deleted")
