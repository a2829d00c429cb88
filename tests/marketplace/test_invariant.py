"""Conservation of credits under any sequence of operations (a hypothesis state machine):
sum of wallet balances + the platform account = sum of all credits ever granted."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from agents.models import Agent
from agents.services import agent_delete
from core.errors import DomainError
from marketplace import services
from marketplace.models import Listing, Rental, Wallet
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1500"), places=2)
keys = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))


class Market(RuleBasedStateMachine):
    users = Bundle("users")
    listings = Bundle("listings")

    def __init__(self):
        super().__init__()
        # Each example starts from the test's clean database: roll its writes back.
        self._example = transaction.atomic()
        self._example.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    @rule(target=users)
    def sign_up(self):
        return UserFactory()

    @rule(user=users, amount=prices)
    def grant(self, user, amount):
        services.wallet_grant(user=user, amount=amount, by=None, note="test")

    @rule(
        target=listings,
        user=users,
        kind=st.sampled_from(["sale", "rent"]),
        price=prices,
        days=st.integers(1, 365),
    )
    def list_agent(self, user, kind, price, days):
        agent = AgentFactory(owner=user)
        return services.listing_create(
            agent=agent,
            seller=user,
            listing_type=kind,
            price=price,
            rental_days=days if kind == "rent" else None,
        )

    @rule(listing=listings, user=users)
    def relist_owned_agent(self, listing, user):
        agent = Agent.objects.filter(pk=listing.agent_id, owner=user).first()
        if agent is not None:
            self._attempt(
                services.listing_create,
                agent=agent,
                seller=user,
                listing_type="sale",
                price=Decimal("3.00"),
            )

    @rule(listing=listings, user=users)
    def withdraw(self, listing, user):
        self._attempt(services.listing_withdraw, listing=listing, by=user)

    @rule(listing=listings, buyer=users, key=keys)
    def purchase(self, listing, buyer, key):
        self._attempt(services.listing_purchase, listing=listing, buyer=buyer, idempotency_key=key)

    @rule()
    def time_passes(self):
        Rental.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        services.rentals_cleanup()

    @rule(listing=consumes(listings))
    def delete_agent(self, listing):
        agent = Agent.objects.filter(pk=listing.agent_id).first()
        if agent is not None:
            self._attempt(agent_delete, agent=agent, by=agent.owner)

    @rule(user=consumes(users))
    def delete_user(self, user):
        # Deleting a user closes their wallet; the credits stay in the books.
        self._attempt(lambda: user.delete())

    def _attempt(self, service, **kwargs):
        try:
            with transaction.atomic():
                service(**kwargs)
        except DomainError:
            pass  # refusals (402/403/409/422) are part of the game; they must move nothing

    @invariant()
    def credits_are_conserved(self):
        assert_money_conserved()

    @invariant()
    def agents_have_at_most_one_active_listing(self):
        for agent_id in Listing.objects.active().values_list("agent_id", flat=True):
            assert Listing.objects.active().filter(agent_id=agent_id).count() == 1

    @invariant()
    def no_wallet_is_negative(self):
        assert not Wallet.objects.filter(balance__lt=0).exists()


def test_credits_are_conserved_under_any_sequence_of_operations():
    run_state_machine_as_test(
        Market,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
