"""Holds and credits under any sequence of bids, purchases, grants and settlements (a
hypothesis state machine): wallets + platform = all credits granted, every wallet's held
credits = the maxima of the bids it leads on active auctions, available never negative."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from core.errors import DomainError
from marketplace import auctions, services
from marketplace.models import Listing, Wallet, cents
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

amounts = st.decimals(min_value=Decimal("1"), max_value=Decimal("1200"), places=2)
keys = st.one_of(st.none(), st.sampled_from(["a", "b"]))


class Auctions(RuleBasedStateMachine):
    users = Bundle("users")
    listings = Bundle("listings")

    def __init__(self):
        super().__init__()
        self._example = transaction.atomic()
        self._example.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    @rule(target=users)
    def sign_up(self):
        return UserFactory()

    @rule(user=users, amount=amounts)
    def grant(self, user, amount):
        services.wallet_grant(user=user, amount=amount, by=None, note="test")

    @rule(target=listings, user=users, price=amounts, reserve=st.one_of(st.none(), amounts))
    def auction(self, user, price, reserve):
        if reserve is not None and reserve < price:
            reserve = price
        return auctions.auction_create(
            agent=AgentFactory(owner=user),
            seller=user,
            price=price,
            reserve_price=reserve,
            ends_at=timezone.now() + timedelta(hours=1),
        )

    @rule(target=listings, user=users, price=amounts)
    def sale(self, user, price):
        return services.listing_create(
            agent=AgentFactory(owner=user), seller=user, listing_type="sale", price=price
        )

    @rule(listing=listings, user=users, amount=amounts, key=keys)
    def bid(self, listing, user, amount, key):
        self._attempt(
            auctions.auction_bid,
            listing=listing,
            bidder=user,
            max_amount=amount,
            idempotency_key=key,
        )

    @rule(listing=listings, user=users)
    def purchase(self, listing, user):
        self._attempt(services.listing_purchase, listing=listing, buyer=user)

    @rule(listing=listings, user=users)
    def withdraw(self, listing, user):
        self._attempt(services.listing_withdraw, listing=listing, by=user)

    @rule(listing=listings)
    def staff_cancel(self, listing):
        self._attempt(services.listing_withdraw, listing=listing, by=UserFactory(is_staff=True))

    @rule(listing=listings)
    def auction_ends(self, listing):
        Listing.objects.filter(pk=listing.pk, listing_type="auction").update(
            ends_at=timezone.now() - timedelta(seconds=1)
        )
        auctions.auctions_settle_due()
        auctions.auction_settle(listing_id=listing.pk)  # twice: a no-op

    def _attempt(self, service, **kwargs):
        try:
            with transaction.atomic():
                service(**kwargs)
        except DomainError:
            pass  # refusals are part of the game; they must move nothing

    @invariant()
    def credits_are_conserved(self):
        assert_money_conserved()

    @invariant()
    def held_is_the_leading_maxima(self):
        leading = (
            Listing.objects.active()
            .filter(listing_type="auction", leading_bid__isnull=False)
            .values("leading_bid__wallet_id")
            .annotate(total=Sum("leading_bid__max_amount"))
        )
        expected = {row["leading_bid__wallet_id"]: cents(row["total"]) for row in leading}
        for wallet in Wallet.objects.all():
            assert wallet.held == expected.get(wallet.pk, Decimal("0.00")), wallet
            assert wallet.available >= 0, wallet


def test_holds_and_credits_under_any_sequence_of_bids():
    run_state_machine_as_test(
        Auctions,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
