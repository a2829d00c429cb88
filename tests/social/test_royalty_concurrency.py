"""Royalties under real concurrency on PostgreSQL: a royalty's payee is a third wallet in the
purchase's ascending-id lock order, so purchases whose buyers are each other's payees never
deadlock, and every credit is accounted for."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from agents.services import agent_fork
from marketplace.models import LedgerEntry, Wallet
from marketplace.services import listing_create
from tests.factories import AgentFactory, UserFactory
from tests.marketplace.conftest import assert_money_conserved
from tests.marketplace.test_concurrency import _headers, race

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so there is no race to test",
    ),
]

RING = 6


def test_buyers_who_are_each_others_payees_all_pay_and_earn(settings):
    settings.MARKETPLACE_FEE_PERCENT = Decimal("10")
    settings.FORK_ROYALTY_PERCENT = Decimal("5")
    seller = UserFactory()
    users = [UserFactory() for _ in range(RING)]
    listings = []
    for owner in users:
        parent = AgentFactory(owner=owner, visibility="public")
        fork = agent_fork(agent=parent, by=seller)
        listings.append(
            listing_create(
                agent=fork, seller=seller, listing_type="rent", price="10.00", rental_days=1
            )
        )
    # users[i + 1] rents the fork of users[i]'s agent, twice: users[i] earns its royalty.
    calls = [
        (f"/api/v1/marketplace/{listings[i].pk}/purchase", {}, _headers(users[(i + 1) % RING]))
        for i in range(RING)
        for _ in range(2)
    ]

    results = race(calls)

    assert Counter(status for status, _ in results) == {201: 2 * RING}, results
    for user in users:
        # −2 × 10.00 paid, +2 × 0.50 of royalty.
        assert Wallet.objects.get(user=user).balance == Decimal("981.00")
    assert Wallet.objects.get(user=seller).balance == Decimal("1000.00") + 2 * RING * Decimal(
        "8.50"
    )
    assert LedgerEntry.objects.filter(kind="royalty").count() == 2 * RING
    assert_money_conserved()
