"""Marketplace: listings, the credit wallets and their ledger, purchases and rentals.

Money is `Decimal` with 2 places everywhere (MONEY_FIELD). A wallet's balance is the sum of
its ledger entries and is also cached on the row; services update both in one transaction.
The platform's own account has no wallet row: its entries are ledger rows with `wallet`
NULL, so collecting a fee never locks a shared hot row (purchases of different listings
run in parallel) and its balance is the sum of those entries.

Holds (auctions, docs/API.md "Auctions"): a wallet has a held sub-account. A bid's hold is a
HOLD ledger entry of −x and its release a RELEASE entry of +x on the bidder's wallet: they
move credits between the available and the held part of one wallet, never between
accounts, so no credit is created or lost. Cached on the row, updated in the same
transaction as the entries:
- `balance` = the sum of the wallet's money entries (every kind but HOLD and RELEASE);
- `held` = −(the sum of its HOLD and RELEASE entries), the maxima of the bids it leads;
- `available` = balance − held = the sum of all its entries.
The database forbids held < 0 and balance − held < 0. Purchases and bids spend `available`.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Max, Q, Sum
from django.utils import timezone

from core.errors import Forbidden, NotFound

MAX_DIGITS = 14
DECIMAL_PLACES = 2
CENT = Decimal("0.01")
MAX_PRICE = Decimal("1000000000.00")


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **kwargs)


def cents(value) -> Decimal:
    """An aggregate as money. SQLite sums decimals as floats (0.1 + 0.2 != 0.3), so every
    SUM is rounded back to the cent; the amounts summed are exact cents."""
    return Decimal(value or 0).quantize(CENT)


class ListingQuerySet(models.QuerySet):
    def active(self) -> "ListingQuerySet":
        # A listing whose agent vanished with its owner's account (CASCADE, then SET_NULL
        # here) is status "active" but sells nothing: it counts as closed.
        return self.filter(status=Listing.Status.ACTIVE, agent__isnull=False)

    def for_agent(self, agent) -> "ListingQuerySet":
        return self.filter(agent=agent)

    def by_seller(self, user) -> "ListingQuerySet":
        return self.filter(seller=user)

    def visible_to(self, user) -> "ListingQuerySet":
        """Active listings to everyone; closed ones to their seller and their buyers."""
        if not getattr(user, "is_authenticated", False):
            return self.filter(status=Listing.Status.ACTIVE)
        return self.filter(
            Q(status=Listing.Status.ACTIVE) | Q(seller=user) | Q(transactions__buyer=user)
        ).distinct()

    def get_for(self, user, pk, *, need: str = "see") -> "Listing":
        """The access rule for listings, shared by pages and the API.

        need: "see" (active ones to everyone, closed ones to their seller and buyers),
        "sell" (withdraw: the seller only, 403 to others who can see it) or "buy" (any
        listing: buying a closed one is a 409 from the purchase service, not a 404).
        Raises NotFound or Forbidden.
        """
        if need not in ("see", "sell", "buy"):
            raise ValueError(f"need must be see, sell or buy, not {need!r}")
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound("Listing not found.") from None
        scope = self if need == "buy" else self.visible_to(user)
        listing = scope.filter(pk=pk).first()
        if listing is None:
            raise NotFound("Listing not found.")
        if need == "sell" and not listing.is_sold_by(user):
            raise Forbidden("Only the seller can do this.")
        return listing

    def for_browsing(self) -> "ListingQuerySet":
        # Everything a listing row shows, in one query (no per-row lookups).
        return self.select_related("agent__stats", "seller", "leading_bid__bidder")

    def search(self, q: str) -> "ListingQuerySet":
        q = q.strip()
        if not q:
            return self
        return self.filter(Q(agent__name__icontains=q) | Q(agent__description__icontains=q))

    def price_between(self, low: Decimal | None, high: Decimal | None) -> "ListingQuerySet":
        listings = self
        if low is not None:
            listings = listings.filter(price__gte=low)
        if high is not None:
            listings = listings.filter(price__lte=high)
        return listings

    # sort key → ORDER BY; the name ascends, a leading "-" descends; id breaks ties so
    # pages never repeat or skip a row (the agent's id for the stats sorts: an agent has one
    # active listing, and the stats indexes end with it).
    SORTS = {
        "newest": ("-created_at", "-id"),
        "oldest": ("created_at", "id"),
        "price": ("price", "-id"),
        "-price": ("-price", "-id"),
        "rating": (F("agent__stats__rating").asc(nulls_first=True), "agent_id"),
        "-rating": (F("agent__stats__rating").desc(nulls_last=True), "-agent_id"),
        "level": (F("agent__stats__level").asc(nulls_first=True), "agent_id"),
        "-level": (F("agent__stats__level").desc(nulls_last=True), "-agent_id"),
    }
    # The sorts by a column of the agent's stats row: the order above, in two index-ordered
    # parts (see StatsSortedListings).
    STATS_SORTS = {"rating", "-rating", "level", "-level"}

    def sorted_by(self, sort: str | None) -> "ListingQuerySet":
        return self.order_by(*self.SORTS.get(sort or "newest", self.SORTS["newest"]))

    def for_pages(self, sort: str | None) -> "ListingQuerySet | StatsSortedListings":
        """sorted_by(sort) as a Paginator's object list: the same rows in the same order,
        but a stats sort reads a page from the stats index instead of sorting every
        listing (issue 13)."""
        if sort in self.STATS_SORTS:
            return StatsSortedListings(self, sort)
        return self.sorted_by(sort)


class StatsSortedListings:
    """Listings in sorted_by(sort) order for a stats sort (rating, level), sliced a page at
    a time. sorted_by's order LEFT JOINs the stats rows, which makes PostgreSQL sort every
    listing for each page; here the listings whose agent has a stats row (all, in practice:
    every agent gets one when created) come from an inner join that walks the stats index
    (AgentStats' stats_rating_agent / stats_level_agent) and stops after the page, and the
    others (NULL, so first ascending, last descending) are a second part. The parts are
    only counted when a page reaches the boundary between them."""

    ordered = True  # for Paginator: the order is sorted_by's

    def __init__(self, listings: ListingQuerySet, sort: str) -> None:
        field = "agent__stats__" + sort.lstrip("-")
        descending = sort.startswith("-")
        rated = listings.filter(agent__stats__isnull=False).order_by(
            *((f"-{field}", "-agent_id") if descending else (field, "agent_id"))
        )
        unrated = listings.filter(agent__stats__isnull=True).order_by(
            "-agent_id" if descending else "agent_id"
        )
        self.listings = listings
        self.parts = (rated, unrated) if descending else (unrated, rated)

    def count(self) -> int:
        return self.listings.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list:
        if not isinstance(index, slice) or index.step is not None:
            raise TypeError("StatsSortedListings supports only slices without a step.")
        start, stop = index.start or 0, index.stop
        first, second = self.parts
        rows = list(first[start:stop])
        if stop is not None and len(rows) == stop - start:
            return rows
        # The first part ends on this page (or before it): the rest comes from the second.
        in_first = start + len(rows) if rows else first.count()
        rest = second[max(0, start - in_first) : None if stop is None else stop - in_first]
        return rows + list(rest)


class Listing(models.Model):
    class Type(models.TextChoices):
        SALE = "sale"
        RENT = "rent"
        AUCTION = "auction"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SOLD = "sold"
        WITHDRAWN = "withdrawn"
        UNSOLD = "unsold"  # an auction that ended without a winner

    # SET_NULL: an agent deleted later must not take the trades that reference its
    # listings with it; the name is kept for the history.
    agent = models.ForeignKey(
        "agents.Agent", null=True, on_delete=models.SET_NULL, related_name="listings"
    )
    agent_name = models.CharField(max_length=100, help_text="The agent's name when listed.")
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="listings"
    )
    listing_type = models.CharField(max_length=10, choices=Type.choices)
    # The price of a sale or rental; an auction's start price.
    price = money_field()
    rental_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Auctions only (marketplace/auctions.py): the hidden reserve, the end (moved by soft
    # close), the price the bids set so far, the bid that leads (its bidder holds its
    # maximum) and how many bids were accepted.
    reserve_price = money_field(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    current_price = money_field(null=True, blank=True)
    leading_bid = models.ForeignKey(
        "Bid", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bids_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ListingQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="listing_status_created"),
            models.Index(fields=["status", "price"], name="listing_status_price"),
            models.Index(fields=["status", "listing_type", "-created_at"], name="listing_type"),
            # The settlement job's look-up of auctions that are due.
            models.Index(
                fields=["ends_at"],
                condition=Q(status="active", listing_type="auction"),
                name="listing_auction_due",
            ),
        ]
        constraints = [
            # The database, not only the service, keeps one active listing per agent.
            models.UniqueConstraint(
                fields=["agent"], condition=Q(status="active"), name="one_active_listing_per_agent"
            ),
            models.CheckConstraint(
                condition=Q(price__gt=0) & Q(price__lte=MAX_PRICE), name="listing_price_range"
            ),
            models.CheckConstraint(
                condition=(
                    Q(listing_type__in=["sale", "auction"], rental_days__isnull=True)
                    | Q(listing_type="rent", rental_days__gte=1, rental_days__lte=365)
                ),
                name="listing_rental_days",
            ),
            # An auction has an end and a current price; other listings have neither, nor a
            # reserve or bids.
            models.CheckConstraint(
                condition=(
                    Q(listing_type="auction", ends_at__isnull=False, current_price__isnull=False)
                    | (
                        ~Q(listing_type="auction")
                        & Q(
                            ends_at__isnull=True,
                            reserve_price__isnull=True,
                            current_price__isnull=True,
                            leading_bid__isnull=True,
                        )
                    )
                ),
                name="listing_auction_terms",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent_name} ({self.listing_type}, {self.price})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def is_rent(self) -> bool:
        return self.listing_type == self.Type.RENT

    @property
    def is_auction(self) -> bool:
        return self.listing_type == self.Type.AUCTION

    @property
    def reserve_met(self) -> bool:
        """Whether the price the bids set reaches the reserve (docs/API.md: the reserve is
        compared with `current_price`, which follows the proxy rule alone)."""
        if self.reserve_price is None:
            return True
        return self.current_price is not None and self.current_price >= self.reserve_price

    def is_sold_by(self, user) -> bool:
        return user.is_authenticated and self.seller_id == user.pk


class Wallet(models.Model):
    """A user's credits. `balance` caches the sum of the wallet's money entries, `held` the
    credits behind the bids it leads (module docstring: holds)."""

    # SET_NULL, not CASCADE: deleting a user must not destroy credits (the ledger's
    # conservation would break); the wallet stays, closed, with its history.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="wallet"
    )
    balance = money_field(default=Decimal("0.00"))
    held = money_field(default=Decimal("0.00"))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative"),
            models.CheckConstraint(condition=Q(held__gte=0), name="wallet_held_not_negative"),
            models.CheckConstraint(
                condition=Q(balance__gte=F("held")), name="wallet_available_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Wallet of {self.user or 'a deleted user'}"

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


class LedgerEntryQuerySet(models.QuerySet):
    def platform(self) -> "LedgerEntryQuerySet":
        return self.filter(wallet__isnull=True).exclude(kind=LedgerEntry.Kind.COMPETITION_ESCROW)

    def escrow(self) -> "LedgerEntryQuerySet":
        """The competitions' escrow account: entry fees and prizes until paid out."""
        return self.filter(wallet__isnull=True, kind=LedgerEntry.Kind.COMPETITION_ESCROW)

    def total(self) -> Decimal:
        return cents(self.aggregate(total=Sum("amount"))["total"])

    def money(self) -> "LedgerEntryQuerySet":
        """Entries that move credits between accounts (not holds and releases)."""
        return self.exclude(kind__in=LedgerEntry.HOLDS)


class LedgerEntry(models.Model):
    """One immutable movement of credits. Entries of one trade sum to zero; grants
    (signup bonus, admin grant) are the only entries that create credits."""

    class Kind(models.TextChoices):
        SIGNUP_BONUS = "signup_bonus", "Signup bonus"
        PURCHASE = "purchase", "Purchase"
        SALE_INCOME = "sale_income", "Sale income"
        RENTAL = "rental", "Rental"
        RENTAL_INCOME = "rental_income", "Rental income"
        FEE = "fee", "Platform fee"
        ADMIN_GRANT = "admin_grant", "Credits granted"
        REFUND = "refund", "Refund"
        HOLD = "hold", "Held for a bid"
        RELEASE = "release", "Hold released"
        ROYALTY = "royalty", "Fork royalty"
        COMPETITION_ENTRY = "competition_entry", "Competition entry fee"
        COMPETITION_PRIZE = "competition_prize", "Competition prize funded"
        COMPETITION_PAYOUT = "competition_payout", "Competition payout"
        # The escrow's own side (no wallet), like the platform's fee entries.
        COMPETITION_ESCROW = "competition_escrow", "Competition escrow"

    GRANTS = (Kind.SIGNUP_BONUS, Kind.ADMIN_GRANT)
    # Moves between a wallet's available and held parts (module docstring: holds).
    HOLDS = (Kind.HOLD, Kind.RELEASE)
    INCOME = (Kind.SALE_INCOME, Kind.RENTAL_INCOME, Kind.ROYALTY)
    SPENDING = (Kind.PURCHASE, Kind.RENTAL)

    # NULL wallet = the platform's own account (fees), or with kind COMPETITION_ESCROW the
    # competitions' escrow, so wallets + platform + escrow = grants.
    wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    amount = money_field()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    transaction = models.ForeignKey(
        "Transaction", null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["wallet", "-created_at"], name="ledger_wallet_created")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"

    def save(self, *args, **kwargs) -> None:
        # Entries are history: a correction is a new entry, never an edit.
        if self.pk is not None:
            raise ValueError("Ledger entries are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are immutable.")

    @property
    def is_platform(self) -> bool:
        return self.wallet_id is None


class Bid(models.Model):
    """One accepted bid of an auction: the bidder's maximum (never shown to others) and the
    price the auction had after it. The listing's `leading_bid` points at the leading one;
    its wallet holds its maximum (marketplace/auctions.py)."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="bids")
    bidder = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="bids"
    )
    # The wallet that holds the maximum while this bid leads: it outlives a deleted user,
    # so the hold can still be released.
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="bids")
    max_amount = money_field()
    amount = money_field(help_text="The auction's current price after this bid.")
    leading = models.BooleanField(help_text="Whether this bid led when it was placed.")
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["listing", "-created_at"], name="bid_listing_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["bidder", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="unique_bid_idempotency_key_per_bidder",
            ),
            models.CheckConstraint(
                condition=Q(max_amount__gt=0, amount__gt=0), name="bid_amounts_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"bid on listing {self.listing_id}: {self.amount} (max {self.max_amount})"


class Transaction(models.Model):
    """A purchase or a rental: what the buyer paid for which listing, once per key."""

    class Kind(models.TextChoices):
        PURCHASE = "purchase"
        RENTAL = "rental"

    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="purchases"
    )
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = money_field()
    fee = money_field(default=Decimal("0.00"))
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The activity log and the seller's stats, XP and achievements are written after the
    # purchase commits (marketplace.services._settle); True until then.
    effects_pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(effects_pending=True),
                name="transaction_effects_pending",
            )
        ]
        constraints = [
            # A retried request finds the first transaction instead of paying twice.
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="unique_idempotency_key_per_buyer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of listing {self.listing_id} for {self.amount}"

    @property
    def seller_income(self) -> Decimal:
        return self.amount - self.fee


class RentalQuerySet(models.QuerySet):
    def unexpired(self, now=None) -> "RentalQuerySet":
        # Access ends the moment expires_at passes, whether or not cleanup has run.
        return self.filter(expires_at__gt=now or timezone.now())

    def expired(self, now=None) -> "RentalQuerySet":
        return self.filter(expires_at__lte=now or timezone.now())

    def expiry_for(self, *, user, agent_id: int | None):
        """When the user's unexpired rental of the agent ends (the latest, as renting again
        extends it), or None."""
        if agent_id is None or not getattr(user, "is_authenticated", False):
            return None
        return (
            self.unexpired()
            .filter(renter=user, agent_id=agent_id)
            .aggregate(until=Max("expires_at"))["until"]
        )


class Rental(models.Model):
    """The right to use an agent until expires_at. Expired rows are cleaned up; the
    transaction keeps the history."""

    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="rentals")
    renter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rentals"
    )
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="rental")
    starts_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    objects = RentalQuerySet.as_manager()

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            models.Index(fields=["renter", "expires_at"], name="rental_renter_expires"),
            models.Index(fields=["agent", "expires_at"], name="rental_agent_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id} rented by {self.renter_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()
