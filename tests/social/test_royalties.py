"""Fork royalties (docs/API.md "Social"): a fork sold or rented pays FORK_ROYALTY_PERCENT of
the price to its parent's current owner, out of the seller's income, through balanced
ledger entries; one level up only; none when the parent is gone or its owner is the buyer
or the seller."""

from decimal import Decimal

import pytest

from agents.services import agent_delete, agent_fork
from gamification.models import AgentStats
from marketplace.models import LedgerEntry, Wallet
from marketplace.services import listing_create, listing_purchase
from tests.factories import AgentFactory, UserFactory
from tests.marketplace.conftest import assert_money_conserved

pytestmark = pytest.mark.django_db

D = Decimal


def balance(user) -> Decimal:
    return Wallet.objects.get(user=user).balance


@pytest.fixture(autouse=True)
def _rates(settings):
    settings.MARKETPLACE_FEE_PERCENT = D("10")
    settings.FORK_ROYALTY_PERCENT = D("5")


def make_fork(parent_owner, seller, **parent_fields):
    parent = AgentFactory(owner=parent_owner, visibility="public", **parent_fields)
    return parent, agent_fork(agent=parent, by=seller)


@pytest.mark.parametrize(("kind", "days"), [("sale", None), ("rent", 3)])
def test_royalty_to_the_cent_on_a_sale_and_a_rental(kind, days, django_capture_on_commit_callbacks):
    creator, seller, buyer = UserFactory(), UserFactory(), UserFactory()
    _parent, fork = make_fork(creator, seller)
    before = {who: balance(who) for who in (creator, seller, buyer)}
    listing = listing_create(
        agent=fork, seller=seller, listing_type=kind, price=D("33.33"), rental_days=days
    )
    with django_capture_on_commit_callbacks(execute=True):
        txn = listing_purchase(listing=listing, buyer=buyer)
    # fee 3.33 (10 %), royalty 1.67 (5 % of 33.33 = 1.6665, half-up), seller 28.33.
    assert balance(buyer) == before[buyer] - D("33.33")
    assert balance(creator) == before[creator] + D("1.67")
    assert balance(seller) == before[seller] + D("28.33")
    entries = {entry.kind: entry for entry in LedgerEntry.objects.filter(transaction=txn)}
    assert entries["royalty"].amount == D("1.67")
    assert entries["royalty"].wallet.user == creator
    assert entries["fee"].amount == D("3.33")
    assert sum(entry.amount for entry in entries.values()) == 0
    # The seller's recorded earnings are what they received.
    assert AgentStats.objects.get(agent=fork).earnings == D("28.33")
    assert_money_conserved()


def test_royalty_goes_to_the_parents_current_owner():
    creator, new_owner, seller, buyer = (UserFactory() for _ in range(4))
    parent, fork = make_fork(creator, seller)
    sale = listing_create(agent=parent, seller=creator, listing_type="sale", price=D("1"))
    listing_purchase(listing=sale, buyer=new_owner)
    before_creator, before_new = balance(creator), balance(new_owner)
    listing = listing_create(agent=fork, seller=seller, listing_type="sale", price=D("100"))
    listing_purchase(listing=listing, buyer=buyer)
    assert balance(new_owner) == before_new + D("5.00")
    assert balance(creator) == before_creator
    assert_money_conserved()


def test_no_royalty_when_the_parent_is_gone():
    creator, seller, buyer = UserFactory(), UserFactory(), UserFactory()
    parent, fork = make_fork(creator, seller)
    agent_delete(agent=parent, by=creator)
    before_creator, before_seller = balance(creator), balance(seller)
    listing = listing_create(agent=fork, seller=seller, listing_type="sale", price=D("100"))
    txn = listing_purchase(listing=listing, buyer=buyer)
    assert balance(seller) == before_seller + D("90.00")
    assert balance(creator) == before_creator
    assert not LedgerEntry.objects.filter(transaction=txn, kind="royalty").exists()
    assert_money_conserved()


def test_no_royalty_when_the_parents_owner_buys():
    creator, seller = UserFactory(), UserFactory()
    _parent, fork = make_fork(creator, seller)
    before_seller = balance(seller)
    listing = listing_create(agent=fork, seller=seller, listing_type="sale", price=D("100"))
    txn = listing_purchase(listing=listing, buyer=creator)
    assert balance(seller) == before_seller + D("90.00")
    assert not LedgerEntry.objects.filter(transaction=txn, kind="royalty").exists()
    assert_money_conserved()


def test_no_royalty_when_the_seller_owns_the_parent():
    creator, buyer = UserFactory(), UserFactory()
    _parent, fork = make_fork(creator, creator)
    before = balance(creator)
    listing = listing_create(agent=fork, seller=creator, listing_type="sale", price=D("100"))
    txn = listing_purchase(listing=listing, buyer=buyer)
    assert balance(creator) == before + D("90.00")
    assert not LedgerEntry.objects.filter(transaction=txn, kind="royalty").exists()
    assert_money_conserved()


def test_a_fork_of_a_fork_pays_one_level_up_only():
    root_owner, middle_owner, seller, buyer = (UserFactory() for _ in range(4))
    _root, middle = make_fork(root_owner, middle_owner)
    middle.visibility = "public"
    middle.save(update_fields=["visibility"])
    grandchild = agent_fork(agent=middle, by=seller)
    before = {who: balance(who) for who in (root_owner, middle_owner, seller)}
    listing = listing_create(agent=grandchild, seller=seller, listing_type="sale", price=D("20"))
    listing_purchase(listing=listing, buyer=buyer)
    assert balance(middle_owner) == before[middle_owner] + D("1.00")
    assert balance(root_owner) == before[root_owner]
    assert balance(seller) == before[seller] + D("17.00")
    assert_money_conserved()


def test_a_tiny_price_pays_no_zero_entry():
    creator, seller, buyer = UserFactory(), UserFactory(), UserFactory()
    _parent, fork = make_fork(creator, seller)
    listing = listing_create(agent=fork, seller=seller, listing_type="sale", price=D("0.09"))
    txn = listing_purchase(listing=listing, buyer=buyer)
    # 5 % of 0.09 = 0.0045 → 0.00: no royalty entry; fee 0.01, the seller 0.08.
    assert not LedgerEntry.objects.filter(transaction=txn, kind="royalty").exists()
    assert_money_conserved()


def test_royalty_percent_is_a_setting(settings):
    settings.FORK_ROYALTY_PERCENT = D("20")
    creator, seller, buyer = UserFactory(), UserFactory(), UserFactory()
    _parent, fork = make_fork(creator, seller)
    before = balance(creator)
    listing = listing_create(agent=fork, seller=seller, listing_type="sale", price=D("10"))
    listing_purchase(listing=listing, buyer=buyer)
    assert balance(creator) == before + D("2.00")
    assert_money_conserved()


def test_an_auctioned_fork_pays_the_royalty_at_settlement(django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from marketplace import auctions
    from marketplace.models import Listing

    creator, seller, winner = UserFactory(), UserFactory(), UserFactory()
    _parent, fork = make_fork(creator, seller)
    listing = auctions.auction_create(
        agent=fork,
        seller=seller,
        price="33.33",
        reserve_price=None,
        ends_at=timezone.now() + timedelta(hours=1),
    )
    auctions.auction_bid(listing=listing, bidder=winner, max_amount="50.00")
    before = {who: balance(who) for who in (creator, seller, winner)}
    Listing.objects.filter(pk=listing.pk).update(ends_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert auctions.auctions_settle_due() == 1

    # The price is the start price (one bidder): fee 3.33, royalty 1.67, seller 28.33.
    assert balance(winner) == before[winner] - D("33.33")
    assert balance(creator) == before[creator] + D("1.67")
    assert balance(seller) == before[seller] + D("28.33")
    royalty = LedgerEntry.objects.get(kind="royalty", wallet__user=creator)
    assert royalty.amount == D("1.67")
    assert sum(e.amount for e in LedgerEntry.objects.filter(transaction=royalty.transaction)) == 0
    assert AgentStats.objects.get(agent=fork).earnings == D("28.33")
    assert_money_conserved()
