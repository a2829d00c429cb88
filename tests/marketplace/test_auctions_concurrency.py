"""Auctions under real concurrency on PostgreSQL: each thread has its own connection, and
the row locks (listing, then wallets by user id) decide."""

import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from marketplace import auctions
from marketplace.models import Listing, Transaction, Wallet
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved
from .test_concurrency import _headers, race

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serialises writers, so there is no race to test",
    ),
]


def _auction(price="10.00", seconds=3600):
    seller = UserFactory()
    return auctions.auction_create(
        agent=AgentFactory(owner=seller),
        seller=seller,
        price=price,
        ends_at=timezone.now() + timedelta(seconds=seconds),
    )


def test_sixteen_concurrent_bids_keep_the_proxy_rule_and_one_hold():
    listing = _auction()
    bidders = [UserFactory() for _ in range(4)]
    path = f"/api/v1/marketplace/{listing.pk}/bids"
    calls = []
    maxima: dict[int, Decimal] = {}
    for index in range(16):
        user = bidders[index % 4]
        amount = Decimal(20 + index * 7)
        calls.append((path, {"max_amount": f"{amount:.2f}"}, _headers(user)))

    results = race(calls)

    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {201, 409}, results
    assert statuses[201] >= 1
    listing = Listing.objects.select_related("leading_bid").get(pk=listing.pk)
    leading = listing.leading_bid
    # Only the leader holds credits, exactly its maximum.
    for user in bidders:
        held = Wallet.objects.get(user=user).held
        assert held == (leading.max_amount if user.pk == leading.bidder_id else 0), user
    # The proxy rule over the accepted maxima: each bidder's highest counts.
    for status, body in results:
        if status == 201:
            bidder = next(
                b for b in bidders if listing.bids.filter(pk=body["id"], bidder=b).exists()
            )
            maxima[bidder.pk] = max(maxima.get(bidder.pk, Decimal(0)), Decimal(body["max_amount"]))
    top = sorted(maxima.values(), reverse=True)
    assert leading.max_amount == top[0]
    expected = listing.price if len(top) == 1 else min(top[0], top[1] + Decimal("1.00"))
    assert listing.current_price == expected
    assert listing.bids_count == statuses[201]
    assert_money_conserved()


def test_a_bid_racing_the_end_is_either_in_or_refused():
    listing = _auction()
    early = UserFactory()
    auctions.auction_bid(listing=listing, bidder=early, max_amount="50.00")
    late = UserFactory()
    Listing.objects.filter(pk=listing.pk).update(
        ends_at=timezone.now() + timedelta(milliseconds=150)
    )
    outcome: dict = {}
    barrier = threading.Barrier(2)

    def place():
        try:
            barrier.wait(5)
            outcome["bid"] = auctions.auction_bid(listing=listing, bidder=late, max_amount="80.00")
        except Exception as exc:
            outcome["bid"] = exc
        finally:
            connection.close()

    def settle():
        try:
            barrier.wait(5)
            deadline = timezone.now() + timedelta(seconds=5)
            while timezone.now() < deadline:
                if auctions.auctions_settle_due():
                    break
        except Exception as exc:
            outcome["settle"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=place), threading.Thread(target=settle)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert "settle" not in outcome, outcome
    listing = Listing.objects.get(pk=listing.pk)
    if isinstance(outcome["bid"], Exception):
        assert listing.status == "sold"
        assert Transaction.objects.get().buyer == early
    else:
        # The bid came first and moved the end (soft close): the auction goes on.
        assert listing.status == "active" and listing.leading_bid.bidder == late
        assert listing.ends_at > timezone.now()
    assert_money_conserved()


def test_two_workers_settle_each_auction_once():
    listings = [_auction() for _ in range(6)]
    buyers = [UserFactory() for _ in listings]
    for listing, buyer in zip(listings, buyers, strict=True):
        auctions.auction_bid(listing=listing, bidder=buyer, max_amount="100.00")
    Listing.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    counts: list = [0, 0, 0, 0]
    barrier = threading.Barrier(4)

    def work(index):
        try:
            barrier.wait(5)
            for _ in range(3):
                counts[index] += auctions.auctions_settle_due()
        except Exception as exc:
            counts[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(count, int) for count in counts), counts
    assert sum(counts) == len(listings)
    assert Transaction.objects.count() == len(listings)
    assert set(Listing.objects.values_list("status", flat=True)) == {"sold"}
    for buyer in buyers:
        wallet = Wallet.objects.get(user=buyer)
        assert wallet.held == 0 and wallet.balance == Decimal("990.00")
    assert_money_conserved()
