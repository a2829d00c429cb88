"""Marketplace: listings, the credit wallets and their ledger, purchases and rentals.

Money is `Decimal` with 2 places everywhere (MONEY_FIELD). A wallet's balance is the sum of
its ledger entries and is also cached on the row; services update both in one transaction.
The platform's own account has no wallet row: its entries are ledger rows with `wallet`
NULL, so collecting a fee never locks a shared hot row (purchases of different listings
run in parallel) and its balance is the sum of those entries.
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
        return self.select_related("agent__stats", "seller")

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
    # pages never repeat or skip a row.
    SORTS = {
        "newest": ("-created_at", "-id"),
        "oldest": ("created_at", "id"),
        "price": ("price", "-id"),
        "-price": ("-price", "-id"),
        "rating": (F("agent__stats__rating").asc(nulls_first=True), "-id"),
        "-rating": (F("agent__stats__rating").desc(nulls_last=True), "-id"),
        "level": (F("agent__stats__level").asc(nulls_first=True), "-id"),
        "-level": (F("agent__stats__level").desc(nulls_last=True), "-id"),
    }

    def sorted_by(self, sort: str | None) -> "ListingQuerySet":
        return self.order_by(*self.SORTS.get(sort or "newest", self.SORTS["newest"]))


class Listing(models.Model):
    class Type(models.TextChoices):
        SALE = "sale"
        RENT = "rent"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SOLD = "sold"
        WITHDRAWN = "withdrawn"

    # SET_NULL: an agent deleted later must not take the trades that reference its
    # listings with it; the name is kept for the history.
    agent = models.ForeignKey(
        "agents.Agent", null=True, on_delete=models.SET_NULL, related_name="listings"
    )
    agent_name = models.CharField(max_length=100, help_text="The agent's name when listed.")
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="listings"
    )
    listing_type = models.CharField(max_length=4, choices=Type.choices)
    price = money_field()
    rental_days = models.PositiveSmallIntegerField(null=True, blank=True)
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
                    Q(listing_type="sale", rental_days__isnull=True)
                    | Q(listing_type="rent", rental_days__gte=1, rental_days__lte=365)
                ),
                name="listing_rental_days",
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

    def is_sold_by(self, user) -> bool:
        return user.is_authenticated and self.seller_id == user.pk


class Wallet(models.Model):
    """A user's credits. `balance` caches the sum of the wallet's ledger entries."""

    # SET_NULL, not CASCADE: deleting a user must not destroy credits (the ledger's
    # conservation would break); the wallet stays, closed, with its history.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="wallet"
    )
    balance = money_field(default=Decimal("0.00"))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative")
        ]

    def __str__(self) -> str:
        return f"Wallet of {self.user or 'a deleted user'}"


class LedgerEntryQuerySet(models.QuerySet):
    def platform(self) -> "LedgerEntryQuerySet":
        return self.filter(wallet__isnull=True)

    def total(self) -> Decimal:
        return cents(self.aggregate(total=Sum("amount"))["total"])


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

    GRANTS = (Kind.SIGNUP_BONUS, Kind.ADMIN_GRANT)
    INCOME = (Kind.SALE_INCOME, Kind.RENTAL_INCOME)
    SPENDING = (Kind.PURCHASE, Kind.RENTAL)

    # NULL wallet = the platform's own account (fees).
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

    class Meta:
        ordering = ["-created_at", "-id"]
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
