"""Admin: read-only money, the grant and suspend actions, search and filters."""

from decimal import Decimal

import pytest

from marketplace.models import LedgerEntry, Listing, Wallet

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_changelists_render_with_search_and_filters(admin_client, user, make_listing):
    make_listing(user)
    for path in [
        "/admin/marketplace/listing/?q=Agent&status__exact=active",
        "/admin/marketplace/wallet/?q=" + user.username,
        "/admin/marketplace/ledgerentry/?kind__exact=signup_bonus",
        "/admin/marketplace/transaction/",
        "/admin/marketplace/rental/",
    ]:
        assert admin_client.get(path).status_code == 200, path


def test_money_rows_are_read_only(admin_client, user):
    wallet = Wallet.objects.get(user=user)
    entry = LedgerEntry.objects.get(wallet=wallet)

    assert admin_client.get("/admin/marketplace/wallet/add/").status_code == 403
    assert admin_client.get("/admin/marketplace/ledgerentry/add/").status_code == 403
    admin_client.post(f"/admin/marketplace/wallet/{wallet.pk}/change/", {"balance": "9999"})
    assert Wallet.objects.get(pk=wallet.pk).balance == Decimal("1000.00")
    response = admin_client.post(f"/admin/marketplace/ledgerentry/{entry.pk}/delete/", {"post": 1})
    assert response.status_code == 403


def test_grant_credits_action_asks_then_writes_a_ledger_entry(admin_client, user, other_user):
    wallets = [Wallet.objects.get(user=user).pk, Wallet.objects.get(user=other_user).pk]
    action = {"action": "grant_credits", "_selected_action": wallets}

    form = admin_client.post("/admin/marketplace/wallet/", action)
    assert form.status_code == 200 and b"Grant credits to 2 wallets" in form.content

    done = admin_client.post(
        "/admin/marketplace/wallet/", {**action, "apply": "1", "amount": "50.00", "note": "Bug"}
    )
    assert done.status_code == 302
    assert Wallet.objects.get(user=user).balance == Decimal("1050.00")
    entry = LedgerEntry.objects.get(wallet__user=other_user, kind="admin_grant")
    assert entry.amount == Decimal("50.00") and entry.note.startswith("Bug")
    assert_money_conserved()


def test_grant_with_a_bad_amount_shows_the_form_again(admin_client, user):
    wallet = Wallet.objects.get(user=user)

    response = admin_client.post(
        "/admin/marketplace/wallet/",
        {"action": "grant_credits", "_selected_action": [wallet.pk], "apply": "1", "amount": "-1"},
    )

    assert response.status_code == 200
    assert not LedgerEntry.objects.filter(kind="admin_grant").exists()


def test_suspend_action_withdraws_active_listings(admin_client, user, make_listing):
    active = make_listing(user)

    response = admin_client.post(
        "/admin/marketplace/listing/",
        {"action": "withdraw", "_selected_action": [active.pk]},
    )

    assert response.status_code == 302
    listing = Listing.objects.get(pk=active.pk)
    assert listing.status == "withdrawn" and "Suspended by" in listing.status_reason
