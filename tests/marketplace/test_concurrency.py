"""Real concurrent requests on PostgreSQL: each thread has its own connection, and the
row locks (agent → listing → wallets by id) decide. SQLite serialises every write
transaction (BEGIN IMMEDIATE), so these races cannot happen there."""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from accounts.services import token_create
from agents.models import Agent, AgentActivity
from gamification.models import AgentStats, ExperienceEvent
from marketplace.models import Rental, Transaction, Wallet
from tests.factories import UserFactory

from .conftest import assert_money_conserved

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so there is no race to test",
    ),
]

THREADS = 12


def _headers(user) -> dict:
    _token, raw = token_create(user=user, name="race")
    return {"Authorization": f"Bearer {raw}"}


def race(calls: list) -> list:
    """Run (path, body, headers) POSTs at once, one thread and connection each."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, path: str, body: dict | None, headers: dict) -> None:
        try:
            client = Client()
            barrier.wait(timeout=30)
            if body is None:  # a withdrawal
                response = client.delete(path, headers=headers)
                results[index] = (response.status_code, None)
                return
            response = client.post(path, body, content_type="application/json", headers=headers)
            results[index] = (response.status_code, response.json())
        except Exception as exc:  # reported below, never swallowed
            results[index] = (599, repr(exc))
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_many_buyers_one_sale_exactly_one_wins(make_listing):
    seller = UserFactory()
    listing = make_listing(seller, price="100.00")
    buyers = [UserFactory() for _ in range(THREADS)]
    path = f"/api/v1/marketplace/{listing.pk}/purchase"

    results = race([(path, {}, _headers(buyer)) for buyer in buyers])

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: THREADS - 1}, results
    winner = Transaction.objects.get()
    assert Agent.objects.get(pk=listing.agent_id).owner_id == winner.buyer_id
    assert Wallet.objects.get(user=seller).balance == Decimal("1090.00")
    assert_money_conserved()


def test_one_buyer_spending_last_credits_never_goes_negative(make_listing):
    buyer = UserFactory()
    listings = [make_listing(UserFactory(), "rent", price="300.00") for _ in range(THREADS)]
    headers = _headers(buyer)

    results = race([(f"/api/v1/marketplace/{x.pk}/purchase", {}, headers) for x in listings])

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 3, 402: THREADS - 3}, results
    assert Wallet.objects.get(user=buyer).balance == Decimal("100.00")
    assert Rental.objects.filter(renter=buyer).count() == 3
    assert_money_conserved()


@pytest.mark.parametrize("kind", ["sale", "rent"])
def test_idempotent_retries_under_concurrency_pay_once(make_listing, kind):
    buyer = UserFactory()
    listing = make_listing(UserFactory(), kind, price="40.00")
    headers = _headers(buyer)
    path = f"/api/v1/marketplace/{listing.pk}/purchase"

    results = race([(path, {"idempotency_key": "retry-me"}, headers)] * THREADS)

    assert {status for status, _ in results} == {201}, results
    assert len({body["transaction_id"] for _, body in results}) == 1
    assert Transaction.objects.count() == 1
    assert Wallet.objects.get(user=buyer).balance == Decimal("960.00")
    assert_money_conserved()


def test_crossed_trades_do_not_deadlock(make_listing):
    # A rents from B while B rents from A, many times at once: wallets are locked in id
    # order, so neither waits on the other in a cycle.
    a, b = UserFactory(), UserFactory()
    from_a = make_listing(a, "rent", price="1.00")
    from_b = make_listing(b, "rent", price="1.00")
    calls = []
    for _ in range(THREADS // 2):
        calls.append((f"/api/v1/marketplace/{from_b.pk}/purchase", {}, _headers(a)))
        calls.append((f"/api/v1/marketplace/{from_a.pk}/purchase", {}, _headers(b)))

    results = race(calls)

    assert {status for status, _ in results} == {201}, results
    assert_money_conserved()


def test_withdrawal_racing_buyers_never_errors(make_listing):
    # Withdrawing locks the agent before the listing, like a purchase, so the two never
    # deadlock: either the seller withdraws first (buyers get 409) or one buyer wins.
    seller = UserFactory()
    listing = make_listing(seller, price="10.00")
    path = f"/api/v1/marketplace/{listing.pk}"
    calls = [(f"{path}/purchase", {}, _headers(UserFactory())) for _ in range(THREADS - 1)]
    calls.insert(THREADS // 2, (path, None, _headers(seller)))

    results = race(calls)

    statuses = Counter(status for status, _ in results)
    assert statuses in (
        Counter({204: 1, 409: THREADS - 1}),
        Counter({201: 1, 409: THREADS - 1}),
    ), results
    assert_money_conserved()


def test_many_renters_of_one_listing_are_all_counted_once(make_listing):
    # The hot listing: every rental pays, and each one's effects (after the commit, in the
    # same request) count exactly once in the agent's stats.
    seller = UserFactory()
    listing = make_listing(seller, "rent", price="10.00")
    path = f"/api/v1/marketplace/{listing.pk}/purchase"

    results = race(
        [(path, {"idempotency_key": "hot"}, _headers(UserFactory())) for _ in range(THREADS)]
    )

    assert {status for status, _ in results} == {201}, results
    stats = AgentStats.objects.get(agent_id=listing.agent_id)
    assert stats.rentals_count == THREADS and stats.earnings == Decimal("9.00") * THREADS
    assert ExperienceEvent.objects.filter(agent_id=listing.agent_id).count() == THREADS
    assert not Transaction.objects.filter(effects_pending=True).exists()
    assert AgentActivity.objects.filter(agent_id=listing.agent_id, verb="rented").count() == THREADS
    assert Wallet.objects.get(user=seller).balance == Decimal("1000.00") + 9 * THREADS
    assert_money_conserved()
