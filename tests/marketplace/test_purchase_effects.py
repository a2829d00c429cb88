"""What a purchase does after its commit (marketplace.services._settle): the rental's
activity row and the seller's stats, XP and achievements, exactly once per transaction,
and never at the cost of the money, which is already committed."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import F
from django.test import override_settings

from agents.models import Agent
from gamification.models import AgentStats, ExperienceEvent
from marketplace import services
from marketplace.models import Transaction, Wallet
from tests.factories import UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db


def stats(listing) -> AgentStats:
    return AgentStats.objects.get_or_create(agent_id=listing.agent_id)[0]


@pytest.mark.parametrize("kind", ["sale", "rent"])
def test_effects_follow_the_commit_once(
    user, other_user, make_listing, django_capture_on_commit_callbacks, kind
):
    listing = make_listing(other_user, kind, price="50.00")

    with django_capture_on_commit_callbacks() as callbacks:
        txn = services.listing_purchase(listing=listing, buyer=user, idempotency_key="once")
    # Committed money, effects not yet run: nothing of the stats is written in the lock.
    assert Transaction.objects.get(pk=txn.pk).effects_pending
    assert not ExperienceEvent.objects.filter(agent_id=listing.agent_id).exists()
    for callback in callbacks:
        callback()

    counted = stats(listing)
    assert counted.earnings == Decimal("45.00")
    assert (counted.sales_count, counted.rentals_count) == ((1, 0) if kind == "sale" else (0, 1))
    assert ExperienceEvent.objects.filter(agent_id=listing.agent_id).count() == 1
    assert not Transaction.objects.get(pk=txn.pk).effects_pending
    # Running them again, a retry with the same key, or the sweeper change nothing.
    with django_capture_on_commit_callbacks(execute=True):
        again = services.listing_purchase(listing=listing, buyer=user, idempotency_key="once")
    assert again.pk == txn.pk
    assert services._settle(txn, listing.agent_id, user) is False
    assert services.purchases_settle(older_than=timedelta(0)) == 0
    assert stats(listing).earnings == Decimal("45.00")
    assert ExperienceEvent.objects.filter(agent_id=listing.agent_id).count() == 1
    assert listing.agent.activities.filter(verb="rented").count() == (kind == "rent")


def test_a_failure_after_commit_moves_no_credit_and_is_settled_later(
    user, other_user, make_listing, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    listing = make_listing(other_user, "rent", price="20.00")

    def broken(**kwargs):
        raise RuntimeError("stats are down")

    monkeypatch.setattr(services, "record_sale", broken)
    with django_capture_on_commit_callbacks(execute=True):
        txn = services.listing_purchase(listing=listing, buyer=user)

    # The purchase stands, paid once; the effects rolled back with their claim.
    assert "wait for purchases_settle" in caplog.text
    assert Wallet.objects.get(user=user).balance == Decimal("980.00")
    assert Wallet.objects.get(user=other_user).balance == Decimal("1018.00")
    assert_money_conserved()
    assert Transaction.objects.get(pk=txn.pk).effects_pending
    assert not listing.agent.activities.filter(verb="rented").exists()
    assert stats(listing).rentals_count == 0

    monkeypatch.undo()
    assert services.purchases_settle() == 0  # too recent: the request may still do it
    Transaction.objects.filter(pk=txn.pk).update(created_at=F("created_at") - timedelta(hours=1))
    out = StringIO()
    call_command("purchases_settle", stdout=out)
    assert out.getvalue().strip() == "Settled 1 purchase(s)."
    assert services.purchases_settle(older_than=timedelta(0)) == 0

    assert stats(listing).rentals_count == 1 and stats(listing).earnings == Decimal("18.00")
    assert listing.agent.activities.filter(verb="rented").count() == 1
    assert Wallet.objects.get(user=user).balance == Decimal("980.00")
    assert_money_conserved()


def test_no_effects_when_the_purchase_rolls_back(
    user, other_user, make_listing, django_capture_on_commit_callbacks
):
    listing = make_listing(other_user, "rent")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        services.listing_purchase(listing=listing, buyer=user)
        transaction.set_rollback(True)

    assert callbacks == []
    assert not Transaction.objects.exists()
    assert stats(listing).rentals_count == 0
    assert_money_conserved()


@pytest.mark.django_db(transaction=True)
def test_effects_for_an_agent_deleted_meanwhile_are_dropped(user, other_user, make_listing):
    listing = make_listing(other_user, "rent")
    # The locked part alone (it commits): the agent goes before the effects run.
    txn, _settle_later = services._purchase(
        listing=listing, buyer=user, idempotency_key=None, now=None
    )
    Agent.objects.filter(pk=listing.agent_id).delete()

    with pytest.raises(IntegrityError):  # its activity row has no agent left
        services._settle(txn, listing.agent_id, user)
    assert Transaction.objects.get(pk=txn.pk).effects_pending

    assert services.purchases_settle(older_than=timedelta(0)) == 0
    assert not Transaction.objects.get(pk=txn.pk).effects_pending
    assert_money_conserved()


def test_rentals_ending_in_the_same_hour_share_one_cleanup_task(
    user, other_user, make_listing, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    listings = [make_listing(other_user, "rent", rental_days=2) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        for listing in listings:
            services.listing_purchase(listing=listing, buyer=user)

    tasks = DBTaskResult.objects.filter(task_path="marketplace.tasks.rentals_cleanup")
    assert tasks.count() in (1, 2)  # 2 only if the purchases straddle a whole hour


@override_settings(SIGNUP_CREDITS=Decimal("0"))
def test_cents_stay_exact_down_to_zero(other_user, make_listing):
    # SQLite computes in floating point: 0.10 + 0.20 must still pay for exactly 0.30.
    buyer = UserFactory()
    services.wallet_grant(user=buyer, amount="0.10", by=None)
    services.wallet_grant(user=buyer, amount="0.20", by=None)

    services.listing_purchase(listing=make_listing(other_user, "rent", price="0.30"), buyer=buyer)

    assert Wallet.objects.get(user=buyer).balance == Decimal("0.00")
    for price in ("0.01", "0.07"):
        services.wallet_grant(user=buyer, amount=price, by=None)
        services.listing_purchase(listing=make_listing(other_user, price=price), buyer=buyer)
    assert Wallet.objects.get(user=buyer).balance == Decimal("0.00")
    assert_money_conserved()


def test_purchase_api_query_budget(
    api_client, other_user, make_listing, django_assert_max_num_queries
):
    # The request path up to the commit: the token (and its last use), the listing, then
    # BEGIN, 8 statements under the locks, COMMIT (a savepoint and its release in a test).
    listing = make_listing(other_user, "rent")
    path = f"/api/v1/marketplace/{listing.pk}/purchase"

    with django_assert_max_num_queries(13):
        response = api_client.post(path, {"idempotency_key": "budget"})

    assert response.status_code == 201
