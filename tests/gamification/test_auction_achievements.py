"""The auction achievements (issue 15): "First auction sold" and "First auction won" read the
auction counter of AgentStats, which the marketplace's auction settlement raises through
record_auction_sale, exactly once per sold auction."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gamification import rules
from gamification.models import AgentAchievement, AgentStats
from gamification.services import record_auction_sale
from marketplace import auctions
from marketplace.models import Listing, Transaction
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

AUCTION_CODES = {"first_auction_sold", "first_auction_won"}


def test_rules_define_both_auction_achievements():
    assert set(rules.ACHIEVEMENTS_BY_CODE) >= AUCTION_CODES


def test_record_auction_sale_counts_and_unlocks_once():
    agent = AgentFactory()

    notices = record_auction_sale(agent=agent)
    again = record_auction_sale(agent=agent)

    stats = AgentStats.objects.get(agent=agent)
    assert stats.auction_sales_count == 2
    assert set(stats.achievement_codes) == AUCTION_CODES
    assert "Achievement unlocked: First auction sold" in notices and again == []
    assert AgentAchievement.objects.filter(agent=agent).count() == 2


def test_a_sold_auction_is_counted_exactly_once(django_capture_on_commit_callbacks):
    seller = UserFactory()
    listing = auctions.auction_create(
        agent=AgentFactory(owner=seller),
        seller=seller,
        price="10.00",
        ends_at=timezone.now() + timedelta(hours=1),
    )
    auctions.auction_bid(listing=listing, bidder=UserFactory(), max_amount="20.00")
    Listing.objects.filter(pk=listing.pk).update(ends_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert auctions.auction_settle(listing_id=listing.pk) == "sold"
        assert auctions.auction_settle(listing_id=listing.pk) is None
    txn = Transaction.objects.get(listing=listing)
    # A second run of the effects (a retry) finds them claimed.
    auctions._auction_effects(txn=txn, agent_id=listing.agent_id, buyer=txn.buyer)

    stats = AgentStats.objects.get(agent_id=listing.agent_id)
    assert (stats.auction_sales_count, stats.sales_count) == (1, 1)
    assert set(stats.achievement_codes) >= AUCTION_CODES
