"""docs/API.md "Auctions": creation, the proxy rule, holds, soft close, idempotency, errors,
settlement by the worker's periodic job."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents.models import Agent
from agents.runtime import periodic
from agents.services import agent_delete, agent_transfer
from core.errors import Conflict, Invalid, PaymentRequired
from gamification.models import AgentStats
from marketplace import auctions, services
from marketplace.models import Bid, LedgerEntry, Listing, Transaction, Wallet
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db

D = Decimal


def make_auction(seller=None, price="10.00", reserve=None, seconds=3600):
    seller = seller or UserFactory()
    return auctions.auction_create(
        agent=AgentFactory(owner=seller),
        seller=seller,
        price=price,
        reserve_price=reserve,
        ends_at=timezone.now() + timedelta(seconds=seconds),
    )


def bid(listing, user, amount, key=None, now=None):
    return auctions.auction_bid(
        listing=listing, bidder=user, max_amount=amount, idempotency_key=key, now=now
    )


def wallet(user) -> Wallet:
    return Wallet.objects.get(user=user)


def fresh(listing) -> Listing:
    return Listing.objects.get(pk=listing.pk)


def held_by(user) -> Decimal:
    return wallet(user).held


def leaves(value) -> set:
    """Every scalar in a JSON document (a timestamp may contain "50.00" as text)."""
    if isinstance(value, dict):
        return set().union(*(leaves(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(leaves(v) for v in value))
    return {value}


def end(listing) -> None:
    Listing.objects.filter(pk=listing.pk).update(ends_at=timezone.now() - timedelta(seconds=1))


# --- the proxy rule ------------------------------------------------------------------------


def test_one_bidder_pays_the_start_price_and_holds_the_maximum():
    listing = make_auction(price="10.00")
    a = UserFactory()

    first = bid(listing, a, "50.00")

    assert first.leading and first.amount == D("10.00")
    listing = fresh(listing)
    assert listing.current_price == D("10.00") and listing.leading_bid_id == first.pk
    assert auctions.min_next_bid(listing) == D("11.00")
    assert held_by(a) == D("50.00") and wallet(a).available == D("950.00")
    assert wallet(a).balance == D("1000.00")
    assert_money_conserved()


def test_a_higher_maximum_leads_at_the_second_maximum_plus_the_increment():
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "50.00")

    second = bid(listing, b, "80.00")

    assert second.leading and second.amount == D("51.00")
    assert held_by(a) == 0 and held_by(b) == D("80.00")  # the outbid hold is released at once
    assert_money_conserved()


def test_a_lower_maximum_raises_the_price_and_does_not_lead():
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "50.00")

    second = bid(listing, b, "30.00")

    assert not second.leading and second.amount == D("31.00")
    assert fresh(listing).leading_bid.bidder == a
    assert held_by(b) == 0 and held_by(a) == D("50.00")


def test_the_price_never_passes_the_highest_maximum():
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "50.00")

    second = bid(listing, b, "49.50")

    assert second.amount == D("50.00") and not second.leading


def test_equal_maxima_the_earlier_bid_leads():
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "40.00")

    tie = bid(listing, b, "40.00")

    assert not tie.leading and tie.amount == D("40.00")
    assert fresh(listing).leading_bid.bidder == a
    assert held_by(b) == 0


def test_raising_your_own_maximum_holds_the_new_one_instead():
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "40.00")
    bid(listing, b, "40.00")  # price 40, a leads

    raised = bid(listing, a, "100.00")

    assert raised.leading and raised.amount == D("41.00")  # second (40) + increment
    assert held_by(a) == D("100.00")
    assert_money_conserved()


def test_raising_a_maximum_alone_keeps_the_start_price():
    listing = make_auction(price="5.00")
    a = UserFactory()
    bid(listing, a, "20.00")

    assert bid(listing, a, "30.00").amount == D("5.00")
    assert held_by(a) == D("30.00")


def test_raising_to_the_same_maximum_is_a_conflict():
    listing = make_auction()
    a = UserFactory()
    bid(listing, a, "20.00")
    with pytest.raises(Conflict):
        bid(listing, a, "20.00")


def test_increment_is_a_setting(settings):
    settings.AUCTION_INCREMENT = D("5.00")
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "50.00")
    assert bid(listing, b, "20.00").amount == D("25.00")
    assert auctions.min_next_bid(fresh(listing)) == D("30.00")


# --- refusals ------------------------------------------------------------------------------


def test_below_min_next_bid_is_a_conflict():
    listing = make_auction(price="10.00")
    with pytest.raises(Conflict):
        bid(listing, UserFactory(), "9.99")
    bid(listing, UserFactory(), "10.00")
    with pytest.raises(Conflict):
        bid(listing, UserFactory(), "10.99")


def test_seller_cannot_bid():
    listing = make_auction()
    with pytest.raises(Conflict):
        bid(listing, listing.seller, "20.00")


def test_ended_auction_refuses_bids():
    listing = make_auction()
    end(listing)
    with pytest.raises(Conflict):
        bid(fresh(listing), UserFactory(), "20.00")


def test_not_an_auction_refuses_bids(make_listing):
    listing = make_listing(UserFactory(), "sale")
    with pytest.raises(Conflict):
        bid(listing, UserFactory(), "200.00")


def test_available_credits_must_cover_the_maximum():
    listing = make_auction()
    a = UserFactory()
    with pytest.raises(PaymentRequired):
        bid(listing, a, "1000.01")
    other = make_auction()
    bid(other, a, "600.00")  # holds 600: 400 left available
    with pytest.raises(PaymentRequired):
        bid(listing, a, "400.01")
    b = UserFactory()
    bid(listing, b, "900.00")
    with pytest.raises(PaymentRequired):  # not leading, but still must be covered
        bid(listing, a, "500.00")
    assert_money_conserved()


def test_purchases_spend_only_available_credits(make_listing):
    a = UserFactory()
    bid(make_auction(), a, "950.00")
    listing = make_listing(UserFactory(), "sale", price="100.00")
    with pytest.raises(PaymentRequired):
        services.listing_purchase(listing=listing, buyer=a)
    assert wallet(a).balance == D("1000.00")


def test_an_auction_cannot_be_bought_outright():
    listing = make_auction()
    with pytest.raises(Conflict):
        services.listing_purchase(listing=listing, buyer=UserFactory())


@pytest.mark.parametrize("seconds", [60, 299, 31 * 86400])
def test_ends_at_out_of_range_is_invalid(seconds):
    with pytest.raises(Invalid):
        make_auction(seconds=seconds)


def test_reserve_below_the_start_price_is_invalid():
    with pytest.raises(Invalid):
        make_auction(price="10.00", reserve="5.00")


def test_one_active_listing_per_agent_still_holds(make_listing):
    listing = make_auction()
    agent = Agent.objects.get(pk=listing.agent_id)
    with pytest.raises(Conflict):
        services.listing_create(agent=agent, seller=agent.owner, listing_type="sale", price="5")
    with pytest.raises(Conflict):
        auctions.auction_create(
            agent=agent,
            seller=agent.owner,
            price="5",
            ends_at=timezone.now() + timedelta(hours=1),
        )


def test_agent_under_auction_cannot_be_deleted_or_change_owner():
    listing = make_auction()
    agent = Agent.objects.get(pk=listing.agent_id)
    with pytest.raises(Conflict):
        agent_delete(agent=agent, by=agent.owner)
    with pytest.raises(Conflict):
        agent_transfer(agent=agent, to_user=UserFactory())
    assert Agent.objects.get(pk=agent.pk).owner_id == listing.seller_id


def test_seller_cannot_withdraw_an_auction_with_bids_but_staff_cancel_releases_holds():
    listing = make_auction()
    a = UserFactory()
    bid(listing, a, "50.00")
    with pytest.raises(Conflict):
        services.listing_withdraw(listing=listing, by=listing.seller)
    services.listing_withdraw(listing=listing, by=UserFactory(is_staff=True))
    assert fresh(listing).status == "withdrawn" and held_by(a) == 0
    assert_money_conserved()


def test_seller_can_withdraw_an_auction_without_bids():
    listing = make_auction()
    services.listing_withdraw(listing=listing, by=listing.seller)
    assert fresh(listing).status == "withdrawn"


# --- soft close ----------------------------------------------------------------------------


def test_a_bid_in_the_last_seconds_extends_the_end(settings):
    settings.AUCTION_SOFT_CLOSE_SECONDS = 120
    listing = make_auction()
    ends = timezone.now() + timedelta(seconds=30)
    Listing.objects.filter(pk=listing.pk).update(ends_at=ends)
    now = timezone.now()

    bid(fresh(listing), UserFactory(), "20.00", now=now)

    assert fresh(listing).ends_at == now + timedelta(seconds=120)


def test_an_early_bid_does_not_move_the_end():
    listing = make_auction(seconds=3600)
    before = fresh(listing).ends_at
    bid(listing, UserFactory(), "20.00")
    assert fresh(listing).ends_at == before


# --- idempotency ---------------------------------------------------------------------------


def test_same_key_returns_the_first_bid_and_holds_once():
    listing = make_auction()
    a = UserFactory()
    first = bid(listing, a, "50.00", key="k1")
    again = bid(listing, a, "50.00", key="k1")
    assert again.pk == first.pk
    assert Bid.objects.count() == 1 and held_by(a) == D("50.00")
    assert fresh(listing).bids_count == 1


def test_same_key_on_another_listing_is_a_conflict():
    a = UserFactory()
    bid(make_auction(), a, "50.00", key="k")
    with pytest.raises(Conflict):
        bid(make_auction(), a, "60.00", key="k")


# --- settlement ----------------------------------------------------------------------------


def test_settlement_sells_to_the_leader_at_the_current_price(django_capture_on_commit_callbacks):
    listing = make_auction(price="10.00")
    seller = listing.seller
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "100.00")
    bid(listing, b, "60.00")  # a leads at 61
    end(listing)

    with django_capture_on_commit_callbacks(execute=True):
        assert auctions.auctions_settle_due() == 1

    listing = fresh(listing)
    assert listing.status == "sold"
    assert Agent.objects.get(pk=listing.agent_id).owner == a
    assert wallet(a).balance == D("939.00") and held_by(a) == 0
    assert wallet(seller).balance == D("1000.00") + D("61.00") - D("6.10")
    assert wallet(b).held == 0 and wallet(b).balance == D("1000.00")
    txn = Transaction.objects.get(listing=listing)
    assert txn.buyer == a and txn.amount == D("61.00") and txn.fee == D("6.10")
    stats = AgentStats.objects.get(agent_id=listing.agent_id)
    assert stats.earnings == D("54.90")
    assert not Transaction.objects.filter(effects_pending=True).exists()
    assert_money_conserved()


def test_settlement_twice_settles_once():
    listing = make_auction()
    a = UserFactory()
    bid(listing, a, "100.00")
    end(listing)

    assert auctions.auction_settle(listing_id=listing.pk) == "sold"
    assert auctions.auction_settle(listing_id=listing.pk) is None
    assert auctions.auctions_settle_due() == 0
    assert Transaction.objects.count() == 1
    assert wallet(a).balance == D("990.00")
    assert_money_conserved()


def test_settlement_without_bids_is_unsold():
    listing = make_auction()
    end(listing)
    assert auctions.auction_settle(listing_id=listing.pk) == "unsold"
    listing = fresh(listing)
    assert listing.status == "unsold"
    assert Agent.objects.get(pk=listing.agent_id).owner_id == listing.seller_id


def test_reserve_not_met_is_unsold_and_releases_the_hold():
    listing = make_auction(price="10.00", reserve="200.00")
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "500.00")
    bid(listing, b, "150.00")  # price 151 < reserve
    assert not fresh(listing).reserve_met
    end(listing)

    assert auctions.auction_settle(listing_id=listing.pk) == "unsold"

    assert held_by(a) == 0 and wallet(a).balance == D("1000.00")
    assert Agent.objects.get(pk=listing.agent_id).owner_id == listing.seller_id
    assert not Transaction.objects.exists()
    assert_money_conserved()


def test_reserve_met_sells():
    listing = make_auction(price="10.00", reserve="100.00")
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "500.00")
    bid(listing, b, "120.00")
    assert fresh(listing).reserve_met
    end(listing)
    assert auctions.auction_settle(listing_id=listing.pk) == "sold"
    assert wallet(a).balance == D("879.00")


def test_an_auction_not_yet_ended_is_left_alone():
    listing = make_auction()
    bid(listing, UserFactory(), "20.00")
    assert auctions.auction_settle(listing_id=listing.pk) is None
    assert fresh(listing).status == "active"


def test_the_worker_ticker_runs_the_registered_settlement():
    assert "auctions_settle" in {job.name for job in periodic.jobs()}
    listing = make_auction()
    end(listing)
    job = next(job for job in periodic.jobs() if job.name == "auctions_settle")
    ticker = periodic.Ticker([job])
    ticker.tick()
    assert fresh(listing).status == "unsold"


def test_a_failing_job_does_not_stop_the_ticker():
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("boom")

    ticker = periodic.Ticker([periodic.Job("broken", broken, 60)])
    assert ticker.tick() > 50
    assert ticker.tick() > 0 and calls == [1]  # not due again yet


def test_ledger_records_holds_and_releases():
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "50.00")
    bid(listing, b, "70.00")
    kinds = list(
        LedgerEntry.objects.filter(wallet__user=a).order_by("id").values_list("kind", "amount")
    )
    assert kinds[-2:] == [("hold", D("-50.00")), ("release", D("50.00"))]


# --- API -----------------------------------------------------------------------------------


@pytest.fixture
def auction_api(make_api_client, user):
    """(seller's client, the auction listing)."""
    return make_api_client(user)


def _create(client, agent, **extra):
    body = {
        "agent_id": agent.pk,
        "listing_type": "auction",
        "price": "10.00",
        "ends_at": (timezone.now() + timedelta(hours=1)).isoformat(),
        **extra,
    }
    return client.post("/api/v1/marketplace", body)


def test_api_create_auction_and_read_it(api_client, user, make_api_client):
    agent = AgentFactory(owner=user)
    response = _create(api_client, agent, reserve_price="50.00")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["listing_type"] == "auction" and body["status"] == "active"
    assert body["auction"]["current_price"] == "10.00"
    assert body["auction"]["min_next_bid"] == "10.00"
    assert body["auction"]["leader"] is None and body["auction"]["bids_count"] == 0
    assert body["auction"]["reserve_met"] is False
    assert "reserve_price" not in body and "50.00" not in leaves(body)

    bidder = UserFactory()
    other = make_api_client(bidder)
    placed = other.post(f"/api/v1/marketplace/{body['id']}/bids", {"max_amount": "30.00"})
    assert placed.status_code == 201, placed.json()
    assert set(placed.json()) == {
        "id",
        "listing_id",
        "max_amount",
        "current_price",
        "leading",
        "ends_at",
    }
    assert placed.json()["leading"] is True and placed.json()["current_price"] == "10.00"

    shown = other.get(f"/api/v1/marketplace/{body['id']}").json()["auction"]
    assert shown["leader"] == bidder.username and shown["min_next_bid"] == "11.00"
    assert shown["bids_count"] == 1

    listed = api_client.get(f"/api/v1/marketplace/{body['id']}/bids").json()
    assert listed["count"] == 1
    assert listed["items"][0] == {
        "bidder": bidder.username,
        "amount": "10.00",
        "created_at": listed["items"][0]["created_at"],
    }
    wallet_body = other.get("/api/v1/wallet").json()
    assert wallet_body["held"] == "30.00" and wallet_body["available"] == "970.00"
    assert wallet_body["balance"] == "1000.00"
    sale = api_client.get("/api/v1/marketplace", {"type": "auction"}).json()
    assert sale["count"] == 1 and sale["items"][0]["auction"]["leader"] == bidder.username


def test_api_other_listings_have_no_auction(api_client, user, make_listing):
    make_listing(user, "sale")
    assert api_client.get("/api/v1/marketplace").json()["items"][0]["auction"] is None


@pytest.mark.parametrize(
    "extra",
    [
        {"ends_at": None},
        {"rental_days": 3},
        {"surprise": 1},
        {"ends_at": "2020-01-01T00:00:00Z"},
    ],
)
def test_api_bad_auction_bodies_are_422(api_client, user, extra):
    response = _create(api_client, AgentFactory(owner=user), **extra)
    assert response.status_code == 422, response.json()
    assert response.json()["code"] == "validation_error"


def test_api_sale_with_ends_at_is_422(api_client, user):
    agent = AgentFactory(owner=user)
    body = {
        "agent_id": agent.pk,
        "listing_type": "sale",
        "price": "10.00",
        "ends_at": (timezone.now() + timedelta(hours=1)).isoformat(),
    }
    assert api_client.post("/api/v1/marketplace", body).status_code == 422


def test_api_bid_errors(api_client, user, make_api_client, make_listing):
    listing = make_auction(seller=user)
    path = f"/api/v1/marketplace/{listing.pk}/bids"
    own = api_client.post(path, {"max_amount": "20.00"})
    assert own.status_code == 409 and own.json()["code"] == "conflict"
    poor = make_api_client(UserFactory())
    short = poor.post(path, {"max_amount": "5000.00"})
    assert short.status_code == 402 and short.json()["code"] == "insufficient_credits"
    low = poor.post(path, {"max_amount": "1.00"})
    assert low.status_code == 409
    unknown = poor.post(path, {"max_amount": "20.00", "max": 1})
    assert unknown.status_code == 422
    sale = make_listing(UserFactory(), "sale")
    assert poor.post(f"/api/v1/marketplace/{sale.pk}/bids", {"max_amount": "20"}).status_code == 409
    assert poor.post("/api/v1/marketplace/999999/bids", {"max_amount": "20"}).status_code == 404


def test_api_idempotent_bid_returns_the_first(make_api_client):
    listing = make_auction()
    client = make_api_client(UserFactory())
    path = f"/api/v1/marketplace/{listing.pk}/bids"
    first = client.post(path, {"max_amount": "20.00", "idempotency_key": "x"})
    again = client.post(path, {"max_amount": "20.00", "idempotency_key": "x"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]


def test_api_bids_never_show_maxima(make_api_client):
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "77.00")
    bid(listing, b, "20.00")
    body = make_api_client(UserFactory()).get(f"/api/v1/marketplace/{listing.pk}/bids").json()
    assert [item["amount"] for item in body["items"]] == ["21.00", "10.00"]
    assert "77.00" not in leaves(body)


def test_api_closed_auction_visible_to_seller_and_winner_only(make_api_client):
    listing = make_auction()
    a = UserFactory()
    bid(listing, a, "30.00")
    end(listing)
    auctions.auction_settle(listing_id=listing.pk)
    assert make_api_client(a).get(f"/api/v1/marketplace/{listing.pk}").status_code == 200
    seller_view = make_api_client(listing.seller).get(f"/api/v1/marketplace/{listing.pk}")
    assert seller_view.json()["status"] == "sold"
    assert (
        make_api_client(UserFactory()).get(f"/api/v1/marketplace/{listing.pk}").status_code == 404
    )


# --- admin ---------------------------------------------------------------------------------


def test_admin_shows_auctions_bids_and_holds(client, staff_user):
    client.force_login(staff_user)
    listing = make_auction()
    a = UserFactory()
    bid(listing, a, "40.00")
    for path in [
        "/admin/marketplace/listing/?listing_type__exact=auction",
        "/admin/marketplace/bid/",
        f"/admin/marketplace/bid/{Bid.objects.get().pk}/change/",
        "/admin/marketplace/wallet/?q=" + a.username,
        "/admin/marketplace/ledgerentry/?kind__exact=hold",
    ]:
        assert client.get(path).status_code == 200, path


def test_admin_cancel_releases_every_hold(client, staff_user):
    client.force_login(staff_user)
    listing = make_auction()
    a, b = UserFactory(), UserFactory()
    bid(listing, a, "40.00")
    bid(listing, b, "60.00")

    client.post(
        "/admin/marketplace/listing/",
        {"action": "withdraw", "_selected_action": [listing.pk]},
    )

    assert fresh(listing).status == "withdrawn"
    assert held_by(a) == 0 and held_by(b) == 0
    assert_money_conserved()


# --- access --------------------------------------------------------------------------------


def test_bid_endpoints_access(client, make_api_client):
    listing = make_auction()
    a = UserFactory()
    bid(listing, a, "20.00")
    path = f"/api/v1/marketplace/{listing.pk}/bids"
    seller, bidder, stranger = (
        make_api_client(listing.seller),
        make_api_client(a),
        make_api_client(UserFactory()),
    )
    assert client.get(path).status_code == 401
    assert (
        client.post(path, {"max_amount": "30"}, content_type="application/json").status_code == 401
    )
    for api in (seller, bidder, stranger):
        assert api.get(path).status_code == 200
    end(listing)
    auctions.auction_settle(listing_id=listing.pk)
    # Closed: the seller and the winner still read it, a stranger does not know it.
    assert seller.get(path).status_code == 200 and bidder.get(path).status_code == 200
    assert stranger.get(path).status_code == 404
    assert stranger.post(path, {"max_amount": "30"}).status_code == 409


def test_bid_list_query_budget(make_api_client, django_assert_max_num_queries):
    listing = make_auction()
    for _ in range(8):
        bid(listing, UserFactory(), auctions.min_next_bid(fresh(listing)))
    api = make_api_client(UserFactory())
    with django_assert_max_num_queries(6):
        assert api.get(f"/api/v1/marketplace/{listing.pk}/bids").json()["count"] == 8


def test_listing_list_query_budget_with_auctions(make_api_client, django_assert_max_num_queries):
    for _ in range(5):
        bid(make_auction(), UserFactory(), "20.00")
    api = make_api_client(UserFactory())
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/marketplace").json()["count"] == 5
