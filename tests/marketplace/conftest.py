from decimal import Decimal

import pytest
from django.db.models import Q, Sum

from marketplace.models import LedgerEntry, Transaction, Wallet, cents
from marketplace.services import listing_create
from tests.factories import AgentFactory


def assert_money_conserved() -> None:
    """The ledger's invariants: credits only come from grants, every trade sums to zero,
    and each wallet's cached balance is the sum of its entries (and never negative)."""
    granted = LedgerEntry.objects.filter(kind__in=LedgerEntry.GRANTS).total()
    balances = cents(Wallet.objects.aggregate(total=Sum("balance"))["total"])
    platform = LedgerEntry.objects.platform().total()
    assert balances + platform == granted, (balances, platform, granted)
    holds = Q(entries__kind__in=LedgerEntry.HOLDS)
    for wallet in Wallet.objects.annotate(
        money_total=Sum("entries__amount", filter=~holds),
        held_total=Sum("entries__amount", filter=holds),
    ):
        # balance = its money entries; held = minus its HOLD/RELEASE entries (models.py).
        assert wallet.balance == cents(wallet.money_total), wallet
        assert wallet.held == -cents(wallet.held_total), wallet
        assert wallet.balance >= wallet.held >= 0, wallet
    for txn in Transaction.objects.annotate(total=Sum("entries__amount")):
        assert cents(txn.total) == 0, txn


@pytest.fixture
def make_listing():
    """make_listing(owner, listing_type="sale", price="100.00", rental_days=None) through
    the service, so it is logged and checked like a real one."""

    def make(owner, listing_type="sale", price="100.00", rental_days=None, **agent_fields):
        if listing_type == "rent" and rental_days is None:
            rental_days = 7
        agent = AgentFactory(owner=owner, **agent_fields)
        return listing_create(
            agent=agent,
            seller=owner,
            listing_type=listing_type,
            price=Decimal(price),
            rental_days=rental_days,
        )

    return make


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Factories hash a password per user; these tests make hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_cleanups_scheduled():
    # The purchase service remembers, per process, the hours it scheduled a cleanup for;
    # each test starts with an empty task table, so with an empty memory too.
    from marketplace import services

    services._cleanups_scheduled.clear()
