"""The marketplace services: listing rules, money movements, access through rentals."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from agents.models import Agent, AgentActivity
from agents.services import agent_delete
from core.errors import Conflict, Forbidden, Invalid, PaymentRequired
from gamification.models import AgentStats
from marketplace import panels, services
from marketplace.models import LedgerEntry, Listing, Rental, Transaction, Wallet
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db
User = get_user_model()


def balance(user) -> Decimal:
    return Wallet.objects.get(user=user).balance


# --- wallets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: User.objects.create_user(username="plain", password="x"),
        lambda: User.objects.create_superuser(username="boss", password="x"),
        lambda: User.objects.create(username="raw"),
        lambda: UserFactory(),
    ],
    ids=["create_user", "create_superuser", "objects.create", "factory"],
)
def test_every_new_user_gets_a_wallet_with_signup_credits(make):
    user = make()

    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == Decimal("1000.00")
    assert list(wallet.entries.values_list("kind", "amount")) == [
        ("signup_bonus", Decimal("1000.00"))
    ]
    assert_money_conserved()


@override_settings(SIGNUP_CREDITS=Decimal("42.50"))
def test_signup_credits_come_from_the_setting():
    assert balance(UserFactory()) == Decimal("42.50")


def test_saving_a_user_again_grants_nothing(user):
    user.first_name = "Renamed"
    user.save()

    assert Wallet.objects.get(user=user).entries.count() == 1


def test_wallet_for_repairs_a_user_created_without_signals(user):
    Wallet.objects.filter(user=user).update(user=None)  # as if bulk-created

    wallet = services.wallet_for(user=user)

    assert wallet.balance == Decimal("1000.00")
    assert_money_conserved()


def test_admin_grant_writes_a_ledger_entry(user, staff_user):
    entry = services.wallet_grant(user=user, amount="250.00", by=staff_user, note="Prize")

    assert entry.kind == "admin_grant" and entry.amount == Decimal("250.00")
    assert "Prize (by " in entry.note
    assert balance(user) == Decimal("1250.00")
    assert_money_conserved()


@pytest.mark.parametrize("amount", ["0", "-5", "1.234", "abc", "1e12", "NaN"])
def test_admin_grant_refuses_bad_amounts(user, staff_user, amount):
    with pytest.raises(Invalid):
        services.wallet_grant(user=user, amount=amount, by=staff_user)


def test_ledger_entries_are_immutable(user):
    entry = LedgerEntry.objects.get(wallet__user=user)

    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()


def test_database_forbids_a_negative_balance(user):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(user=user).update(balance=Decimal("-0.01"))


@pytest.mark.parametrize(
    ("price", "fee"),
    [("100.00", "10.00"), ("0.01", "0.00"), ("0.05", "0.01"), ("0.04", "0.00"), ("12.35", "1.24")],
)
def test_fee_is_ten_percent_rounded_half_up_to_the_cent(price, fee):
    assert services.fee_for(Decimal(price)) == Decimal(fee)


# --- listing ------------------------------------------------------------------------------


def test_owner_lists_an_agent_and_it_is_logged(user):
    agent = AgentFactory(owner=user)

    listing = services.listing_create(
        agent=agent, seller=user, listing_type="rent", price="12.50", rental_days=3
    )

    assert listing.is_active and listing.price == Decimal("12.50") and listing.rental_days == 3
    assert listing.agent_name == agent.name
    assert agent.activities.filter(verb="listed", detail__contains="3 day").exists()


def test_only_the_owner_may_list(user, other_user):
    with pytest.raises(Forbidden):
        services.listing_create(
            agent=AgentFactory(owner=other_user), seller=user, listing_type="sale", price=5
        )


def test_one_active_listing_per_agent(user, make_listing):
    listing = make_listing(user)

    with pytest.raises(Conflict):
        services.listing_create(agent=listing.agent, seller=user, listing_type="sale", price=5)
    services.listing_withdraw(listing=listing, by=user)
    services.listing_create(agent=listing.agent, seller=user, listing_type="sale", price=5)


@pytest.mark.parametrize(
    ("kind", "price", "days"),
    [
        ("sale", "0", None),
        ("sale", "-1", None),
        ("sale", "1000000000.01", None),
        ("sale", "1.001", None),
        ("sale", "1.00", 3),
        ("rent", "1.00", None),
        ("rent", "1.00", 0),
        ("rent", "1.00", 366),
        ("swap", "1.00", None),
    ],
)
def test_listing_terms_are_validated(user, kind, price, days):
    with pytest.raises(Invalid):
        services.listing_create(
            agent=AgentFactory(owner=user),
            seller=user,
            listing_type=kind,
            price=price,
            rental_days=days,
        )


def test_the_largest_price_is_accepted(user):
    listing = services.listing_create(
        agent=AgentFactory(owner=user), seller=user, listing_type="sale", price="1000000000.00"
    )
    assert listing.price == Decimal("1000000000.00")


def test_withdraw_by_seller_only_and_once(user, other_user, make_listing):
    listing = make_listing(user)

    with pytest.raises(Forbidden):
        services.listing_withdraw(listing=listing, by=other_user)
    services.listing_withdraw(listing=listing, by=user)
    with pytest.raises(Conflict):
        services.listing_withdraw(listing=listing, by=user)
    assert Listing.objects.get(pk=listing.pk).status == "withdrawn"
    assert listing.agent.activities.filter(verb="unlisted").exists()


# --- purchase ------------------------------------------------------------------------------


def test_purchase_moves_ownership_pays_seller_and_platform(
    user, other_user, make_listing, django_capture_on_commit_callbacks
):
    listing = make_listing(other_user, price="100.00")
    AgentStats.objects.create(agent=listing.agent)

    with django_capture_on_commit_callbacks(execute=True):
        txn = services.listing_purchase(listing=listing, buyer=user)

    assert txn.kind == "purchase" and txn.amount == Decimal("100.00") and txn.fee == Decimal("10")
    assert balance(user) == Decimal("900.00")
    assert balance(other_user) == Decimal("1090.00")
    assert services.platform_balance() == Decimal("10.00")
    assert Agent.objects.get(pk=listing.agent_id).owner == user
    assert Listing.objects.get(pk=listing.pk).status == "sold"
    assert AgentStats.objects.get(agent=listing.agent).earnings == Decimal("90.00")
    assert AgentActivity.objects.filter(agent=listing.agent, verb="sold").exists()
    assert sorted(txn.entries.values_list("kind", flat=True)) == [
        "fee",
        "purchase",
        "sale_income",
    ]
    assert_money_conserved()


def test_sold_agent_keeps_its_listing_history(user, other_user, make_listing):
    listing = make_listing(other_user)
    services.listing_purchase(listing=listing, buyer=user)

    assert list(Listing.objects.for_agent(listing.agent).values_list("status", flat=True)) == [
        "sold"
    ]
    # the new owner may list it again
    services.listing_create(
        agent=listing.agent, seller=user, listing_type="rent", price=3, rental_days=1
    )


def test_buying_your_own_listing_is_a_conflict(user, make_listing):
    with pytest.raises(Conflict):
        services.listing_purchase(listing=make_listing(user), buyer=user)


def test_buying_a_closed_listing_is_a_conflict(user, other_user, make_listing):
    listing = make_listing(other_user)
    services.listing_withdraw(listing=listing, by=other_user)

    with pytest.raises(Conflict):
        services.listing_purchase(listing=listing, buyer=user)
    assert balance(user) == Decimal("1000.00")


def test_insufficient_credits_is_payment_required_and_charges_nothing(
    user, other_user, make_listing
):
    listing = make_listing(other_user, price="1000.01")

    with pytest.raises(PaymentRequired):
        services.listing_purchase(listing=listing, buyer=user)
    assert balance(user) == Decimal("1000.00")
    assert not Transaction.objects.exists()


def test_spending_the_exact_balance_leaves_zero(user, other_user, make_listing):
    services.listing_purchase(listing=make_listing(other_user, price="1000.00"), buyer=user)

    assert balance(user) == Decimal("0.00")
    with pytest.raises(PaymentRequired):
        services.listing_purchase(listing=make_listing(other_user, price="0.01"), buyer=user)


def test_same_idempotency_key_returns_the_first_transaction(user, other_user, make_listing):
    listing = make_listing(other_user, "rent", price="30.00")

    first = services.listing_purchase(listing=listing, buyer=user, idempotency_key="k1")
    again = services.listing_purchase(listing=listing, buyer=user, idempotency_key="k1")

    assert again.pk == first.pk
    assert balance(user) == Decimal("970.00")
    assert Rental.objects.count() == 1


def test_retry_of_a_sale_after_it_closed_returns_the_first_result(user, other_user, make_listing):
    listing = make_listing(other_user)
    first = services.listing_purchase(listing=listing, buyer=user, idempotency_key="buy-1")

    again = services.listing_purchase(listing=listing, buyer=user, idempotency_key="buy-1")

    assert again.pk == first.pk


def test_retry_after_spending_the_last_credits_returns_the_first_result(
    user, other_user, make_listing
):
    listing = make_listing(other_user, "rent", price="1000.00")
    first = services.listing_purchase(listing=listing, buyer=user, idempotency_key="all-in")

    again = services.listing_purchase(listing=listing, buyer=user, idempotency_key="all-in")

    assert again.pk == first.pk and balance(user) == Decimal("0.00")
    with pytest.raises(PaymentRequired):
        services.listing_purchase(listing=listing, buyer=user, idempotency_key="other")
    assert_money_conserved()


def test_same_key_for_another_listing_is_a_conflict(user, other_user, make_listing):
    services.listing_purchase(
        listing=make_listing(other_user, "rent"), buyer=user, idempotency_key="k"
    )

    with pytest.raises(Conflict):
        services.listing_purchase(
            listing=make_listing(other_user, "rent"), buyer=user, idempotency_key="k"
        )


def test_keys_are_per_buyer(user, other_user, make_listing):
    listing = make_listing(UserFactory(), "rent")

    a = services.listing_purchase(listing=listing, buyer=user, idempotency_key="same")
    b = services.listing_purchase(listing=listing, buyer=other_user, idempotency_key="same")

    assert a.pk != b.pk


# --- rentals -------------------------------------------------------------------------------


def test_rent_grants_use_until_expiry_and_listing_stays(
    user, other_user, make_listing, django_capture_on_commit_callbacks
):
    listing = make_listing(other_user, "rent", price="20.00", rental_days=2)
    agent = listing.agent

    with django_capture_on_commit_callbacks(execute=True):
        txn = services.listing_purchase(listing=listing, buyer=user)

    assert txn.kind == "rental"
    assert txn.expires_at - txn.created_at == timedelta(days=2)
    assert Listing.objects.get(pk=listing.pk).is_active
    assert agent.is_usable_by(user) and not agent.is_owned_by(user)
    assert Agent.objects.usable_by(user).filter(pk=agent.pk).exists()
    assert Rental.objects.expiry_for(user=user, agent_id=agent.pk) == txn.expires_at
    assert balance(other_user) == Decimal("1018.00")
    assert AgentStats.objects.get(agent=agent).earnings == Decimal("18.00")
    assert agent.activities.filter(verb="rented").exists()
    assert_money_conserved()


def test_renting_again_extends_the_rental(user, other_user, make_listing):
    listing = make_listing(other_user, "rent", rental_days=3)

    first = services.listing_purchase(listing=listing, buyer=user)
    second = services.listing_purchase(listing=listing, buyer=user)

    assert second.expires_at == first.expires_at + timedelta(days=3)
    assert Rental.objects.expiry_for(user=user, agent_id=listing.agent_id) == second.expires_at


def test_expired_rental_stops_granting_access_at_once(user, other_user, make_listing):
    listing = make_listing(other_user, "rent")
    services.listing_purchase(listing=listing, buyer=user)
    Rental.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert not listing.agent.is_usable_by(user)
    assert not Agent.objects.usable_by(user).exists()
    assert Rental.objects.expiry_for(user=user, agent_id=listing.agent_id) is None
    assert services.rentals_cleanup() == 1
    assert not Rental.objects.exists() and Transaction.objects.count() == 1


def test_rental_schedules_its_cleanup_at_expiry(
    user, other_user, make_listing, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    listing = make_listing(other_user, "rent")
    with django_capture_on_commit_callbacks(execute=True):
        txn = services.listing_purchase(listing=listing, buyer=user)

    task = DBTaskResult.objects.get(task_path="marketplace.tasks.rentals_cleanup")
    # At the whole hour after the expiry: one task serves every rental ending in that hour.
    assert txn.expires_at <= task.run_after < txn.expires_at + timedelta(hours=1)
    assert task.run_after.minute == task.run_after.second == task.run_after.microsecond == 0


def test_rentals_granted_before_a_sale_keep_running(user, other_user, make_listing):
    seller = UserFactory()
    rent = make_listing(seller, "rent")
    services.listing_purchase(listing=rent, buyer=user)
    services.listing_withdraw(listing=rent, by=seller)
    sale = services.listing_create(agent=rent.agent, seller=seller, listing_type="sale", price=5)

    services.listing_purchase(listing=sale, buyer=other_user)

    assert rent.agent.is_usable_by(user)


# --- other apps' questions -----------------------------------------------------------------


def test_listed_agents_are_visible_read_only_to_everyone(user, other_user, make_listing):
    listing = make_listing(other_user)
    hidden = AgentFactory(owner=other_user)

    visible = Agent.objects.visible_to(user)

    assert listing.agent in visible and hidden not in visible
    assert not listing.agent.is_usable_by(user)


def test_delete_withdraws_the_active_listing(user, make_listing):
    listing = make_listing(user)

    agent_delete(agent=listing.agent, by=user)

    listing.refresh_from_db()
    assert listing.status == "withdrawn" and listing.agent is None


def test_delete_is_refused_while_others_rent_the_agent(user, other_user, make_listing):
    listing = make_listing(user, "rent")
    services.listing_purchase(listing=listing, buyer=other_user)

    assert services.agent_delete_blockers(agent=listing.agent)
    with pytest.raises(Conflict, match="rent this agent"):
        agent_delete(agent=listing.agent, by=user)

    Rental.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert services.agent_delete_blockers(agent=listing.agent) == []
    agent_delete(agent=listing.agent, by=user)
    assert not Agent.objects.filter(pk=listing.agent_id).exists()
    assert Transaction.objects.count() == 1  # the history stays
    assert_money_conserved()


def test_deleting_a_user_keeps_their_credits_in_the_books(user, other_user, make_listing):
    services.listing_purchase(listing=make_listing(other_user), buyer=user)

    user.delete()

    assert Wallet.objects.filter(user__isnull=True).count() == 1
    assert_money_conserved()


def test_agent_panel_context_for_owner_and_others(user, other_user, make_listing):
    listing = make_listing(user, "rent")
    services.listing_purchase(listing=listing, buyer=other_user)

    mine = panels.agent_panel_context(agent=listing.agent, user=user)
    theirs = panels.agent_panel_context(agent=listing.agent, user=other_user)

    assert mine["is_owner"] and mine["listing"] == listing and mine["renters"] == 1
    assert mine["sales"] == 1
    assert not theirs["is_owner"] and theirs["my_rental_expires_at"] is not None
