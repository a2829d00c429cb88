"""docs/API.md "Marketplace and wallet": every endpoint, status and filter."""

from decimal import Decimal

import pytest

from agents.models import Agent
from gamification.models import AgentStats
from marketplace.models import Listing, Wallet
from tests.factories import AgentFactory, ListingFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller_api(make_api_client, other_user):
    return make_api_client(other_user)


# --- GET /marketplace ----------------------------------------------------------------------


def test_list_shows_active_listings_in_the_contract_shape(api_client, other_user, make_listing):
    listing = make_listing(other_user, "rent", price="12.5", rental_days=3, tools=["web_search"])
    make_listing(other_user)
    ListingFactory(status="withdrawn")

    body = api_client.get("/api/v1/marketplace").json()

    assert body["count"] == 2
    item = next(i for i in body["items"] if i["id"] == listing.pk)
    assert item["listing_type"] == "rent" and item["price"] == "12.50"
    assert item["rental_days"] == 3 and item["seller"] == other_user.username
    assert item["status"] == "active" and item["created_at"]
    assert set(item["agent"]) >= {"id", "name", "description", "tools", "model", "stats"}
    assert item["agent"]["tools"] == ["web_search"]
    assert item["agent"]["stats"]["level"] == 1


def test_list_filters_by_type_query_and_price(api_client, other_user, make_listing):
    cheap = make_listing(other_user, "rent", price="5.00", name="Cheap helper")
    mid = make_listing(other_user, "sale", price="50.00", description="Writes <b>poems</b>")
    dear = make_listing(other_user, "sale", price="500.00")

    def ids(**params):
        return [i["id"] for i in api_client.get("/api/v1/marketplace", params).json()["items"]]

    assert ids(type="rent") == [cheap.pk]
    assert set(ids(type="sale")) == {mid.pk, dear.pk}
    assert ids(q="cheap") == [cheap.pk]
    assert ids(q="POEMS") == [mid.pk]
    assert ids(min_price="10", max_price="100") == [mid.pk]
    assert ids(min_price="500") == [dear.pk]
    assert ids(q="nothing like this") == []


def test_list_sorts(api_client, other_user, make_listing):
    a = make_listing(other_user, price="30.00")
    b = make_listing(other_user, price="10.00")
    c = make_listing(other_user, price="20.00")
    AgentStats.objects.create(agent=a.agent, rating=4.5, level=2)
    AgentStats.objects.create(agent=b.agent, rating=2.0, level=7)
    AgentStats.objects.create(agent=c.agent, rating=3.0, level=1)

    def ids(sort):
        items = api_client.get("/api/v1/marketplace", {"sort": sort}).json()["items"]
        return [i["id"] for i in items]

    assert ids("newest") == [c.pk, b.pk, a.pk]
    assert ids("price") == [b.pk, c.pk, a.pk]
    assert ids("-price") == [a.pk, c.pk, b.pk]
    assert ids("-rating") == [a.pk, c.pk, b.pk]
    assert ids("rating") == [b.pk, c.pk, a.pk]
    assert ids("-level") == [b.pk, a.pk, c.pk]
    assert ids("level") == [c.pk, a.pk, b.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"type": "swap"},
        {"sort": "popularity"},
        {"min_price": "cheap"},
        {"max_price": "-1"},
        {"q": "x" * 201},
        {"q": "\x00"},
        {"limit": 1000},
        {"offset": -1},
    ],
)
def test_list_rejects_bad_filters_with_422(api_client, params):
    response = api_client.get("/api/v1/marketplace", params)

    assert response.status_code == 422
    assert "detail" in response.json()


def test_list_is_paginated_within_a_query_budget(
    api_client, other_user, django_assert_max_num_queries
):
    for _ in range(25):
        ListingFactory(agent=AgentFactory(owner=other_user))

    with django_assert_max_num_queries(4):
        page = api_client.get("/api/v1/marketplace", {"limit": 10, "offset": 20}).json()

    assert page["count"] == 25 and len(page["items"]) == 5


def test_anonymous_gets_401(client, db):
    for method, path in [
        ("get", "/api/v1/marketplace"),
        ("post", "/api/v1/marketplace"),
        ("delete", "/api/v1/marketplace/1"),
        ("post", "/api/v1/marketplace/1/purchase"),
        ("get", "/api/v1/wallet"),
        ("get", "/api/v1/wallet/transactions"),
    ]:
        response = getattr(client, method)(path, content_type="application/json")
        assert response.status_code == 401, (method, path)


# --- POST /marketplace ---------------------------------------------------------------------


def test_owner_creates_a_listing(api_client, user):
    agent = AgentFactory(owner=user)

    response = api_client.post(
        "/api/v1/marketplace",
        {"agent_id": agent.pk, "listing_type": "rent", "price": "9.99", "rental_days": 30},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["price"] == "9.99" and body["rental_days"] == 30 and body["status"] == "active"
    assert body["agent"]["id"] == agent.pk and body["seller"] == user.username


def test_price_may_be_a_json_number(api_client, user):
    agent = AgentFactory(owner=user)

    response = api_client.post(
        "/api/v1/marketplace", {"agent_id": agent.pk, "listing_type": "sale", "price": 12.5}
    )

    assert response.status_code == 201 and response.json()["price"] == "12.50"


def test_second_active_listing_is_409(api_client, user, make_listing):
    listing = make_listing(user)

    response = api_client.post(
        "/api/v1/marketplace",
        {"agent_id": listing.agent_id, "listing_type": "sale", "price": "1.00"},
    )

    assert response.status_code == 409
    assert "already has an active listing" in response.json()["detail"]


def test_listing_someone_elses_agent(api_client, other_user, make_listing):
    hidden = AgentFactory(owner=other_user)
    listed = make_listing(other_user).agent

    def post(agent):
        return api_client.post(
            "/api/v1/marketplace", {"agent_id": agent.pk, "listing_type": "sale", "price": "1"}
        )

    assert post(hidden).status_code == 404  # invisible to the caller
    assert post(listed).status_code == 403  # visible (listed), but not theirs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"listing_type": "sale", "price": "0"}, "price"),
        ({"listing_type": "sale", "price": "-3"}, "price"),
        ({"listing_type": "sale", "price": "1000000000.01"}, "price"),
        ({"listing_type": "sale", "price": "1.005"}, "price"),
        ({"listing_type": "sale", "price": "abc"}, "price"),
        ({"listing_type": "sale", "price": "NaN"}, "price"),
        ({"listing_type": "lease", "price": "1"}, "listing_type"),
        ({"listing_type": "rent", "price": "1", "rental_days": 0}, "rental_days"),
        ({"listing_type": "rent", "price": "1", "rental_days": 366}, "rental_days"),
        ({"listing_type": "sale"}, "price"),
    ],
)
def test_invalid_listing_is_422_naming_the_field(api_client, user, body, field):
    agent = AgentFactory(owner=user)

    response = api_client.post("/api/v1/marketplace", {"agent_id": agent.pk, **body})

    assert response.status_code == 422, response.content
    assert any(e["loc"][-1] == field for e in response.json()["detail"])
    assert not Listing.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"listing_type": "rent", "price": "1"},
        {"listing_type": "sale", "price": "1", "rental_days": 3},
    ],
)
def test_rental_days_only_and_always_for_rent_422(api_client, user, body):
    agent = AgentFactory(owner=user)

    response = api_client.post("/api/v1/marketplace", {"agent_id": agent.pk, **body})

    assert response.status_code == 422
    assert "rental" in str(response.json()["detail"]).lower()


# --- DELETE /marketplace/{id} --------------------------------------------------------------


def test_seller_withdraws_with_204(api_client, user, make_listing):
    listing = make_listing(user)

    response = api_client.delete(f"/api/v1/marketplace/{listing.pk}")

    assert response.status_code == 204
    assert Listing.objects.get(pk=listing.pk).status == "withdrawn"
    assert api_client.delete(f"/api/v1/marketplace/{listing.pk}").status_code == 409


def test_withdraw_by_others(api_client, other_user, make_listing):
    active = make_listing(other_user)
    closed = make_listing(other_user)
    closed.status = "withdrawn"
    closed.save()

    assert api_client.delete(f"/api/v1/marketplace/{active.pk}").status_code == 403
    assert api_client.delete(f"/api/v1/marketplace/{closed.pk}").status_code == 404
    assert api_client.delete("/api/v1/marketplace/999999").status_code == 404


def test_get_one_listing(api_client, user, other_user, make_listing):
    active = make_listing(other_user)
    withdrawn = make_listing(other_user)
    withdrawn.status = "withdrawn"
    withdrawn.save()

    assert api_client.get(f"/api/v1/marketplace/{active.pk}").json()["id"] == active.pk
    assert api_client.get(f"/api/v1/marketplace/{withdrawn.pk}").status_code == 404


# --- POST /marketplace/{id}/purchase -------------------------------------------------------


def test_purchase_a_sale(api_client, user, other_user, make_listing):
    listing = make_listing(other_user, price="100.00")

    response = api_client.post(f"/api/v1/marketplace/{listing.pk}/purchase", {})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["listing_id"] == listing.pk and body["kind"] == "purchase"
    assert body["amount"] == "100.00" and body["expires_at"] is None and body["transaction_id"]
    assert Agent.objects.get(pk=listing.agent_id).owner == user
    assert api_client.get(f"/api/v1/agents/{listing.agent_id}").json()["owner"] == user.username
    assert api_client.get(f"/api/v1/marketplace/{listing.pk}").json()["status"] == "sold"
    assert_money_conserved()


def test_rent_grants_chat_until_expires_at(api_client, user, other_user, make_listing):
    listing = make_listing(other_user, "rent", price="10.00", rental_days=5)

    response = api_client.post(f"/api/v1/marketplace/{listing.pk}/purchase", {})

    body = response.json()
    assert response.status_code == 201 and body["kind"] == "rental" and body["expires_at"]
    mine = api_client.get("/api/v1/agents", {"owned": "false"}).json()
    assert [a["id"] for a in mine["items"]] == [listing.agent_id]
    assert api_client.get(f"/api/v1/marketplace/{listing.pk}").json()["status"] == "active"


def test_purchase_error_statuses(api_client, user, other_user, make_listing):
    own = make_listing(user)
    dear = make_listing(other_user, price="5000.00")
    gone = make_listing(other_user)
    gone.status = "sold"
    gone.save()

    assert api_client.post(f"/api/v1/marketplace/{own.pk}/purchase", {}).status_code == 409
    assert api_client.post(f"/api/v1/marketplace/{gone.pk}/purchase", {}).status_code == 409
    poor = api_client.post(f"/api/v1/marketplace/{dear.pk}/purchase", {})
    assert poor.status_code == 402 and "Not enough credits" in poor.json()["detail"]
    assert api_client.post("/api/v1/marketplace/987654/purchase", {}).status_code == 404
    assert Wallet.objects.get(user=user).balance == Decimal("1000.00")


def test_sold_listing_is_409_for_the_next_buyer(
    api_client, make_api_client, other_user, make_listing
):
    listing = make_listing(other_user)
    assert api_client.post(f"/api/v1/marketplace/{listing.pk}/purchase", {}).status_code == 201

    late = make_api_client(UserFactory()).post(f"/api/v1/marketplace/{listing.pk}/purchase", {})

    assert late.status_code == 409


def test_idempotent_purchase_returns_the_first_result(api_client, user, other_user, make_listing):
    listing = make_listing(other_user, price="40.00")
    path = f"/api/v1/marketplace/{listing.pk}/purchase"

    first = api_client.post(path, {"idempotency_key": "order-1"})
    again = api_client.post(path, {"idempotency_key": "order-1"})

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Wallet.objects.get(user=user).balance == Decimal("960.00")


@pytest.mark.parametrize("key", ["", "x" * 201, "\x00", 5])
def test_bad_idempotency_key_is_422(api_client, other_user, make_listing, key):
    listing = make_listing(other_user)

    response = api_client.post(
        f"/api/v1/marketplace/{listing.pk}/purchase", {"idempotency_key": key}
    )

    assert response.status_code == 422


# --- wallet --------------------------------------------------------------------------------


def test_wallet_shows_balance_earned_and_spent(
    api_client, make_api_client, user, other_user, make_listing
):
    sold = make_listing(user, price="50.00")
    bought = make_listing(other_user, "rent", price="20.00")
    make_api_client(other_user).post(f"/api/v1/marketplace/{sold.pk}/purchase", {})
    api_client.post(f"/api/v1/marketplace/{bought.pk}/purchase", {})

    assert api_client.get("/api/v1/wallet").json() == {
        "balance": "1025.00",
        "earned": "45.00",
        "spent": "20.00",
        "held": "0.00",
        "available": "1025.00",
    }


def test_wallet_transactions_lists_the_ledger(
    api_client, user, other_user, make_listing, django_assert_max_num_queries
):
    for _ in range(3):
        api_client.post(f"/api/v1/marketplace/{make_listing(other_user, 'rent').pk}/purchase", {})

    with django_assert_max_num_queries(5):
        body = api_client.get("/api/v1/wallet/transactions", {"limit": 2}).json()

    assert body["count"] == 4
    assert [e["kind"] for e in body["items"]] == ["rental", "rental"]
    assert body["items"][0]["amount"] == "-100.00" and body["items"][0]["transaction_id"]
    everything = api_client.get("/api/v1/wallet/transactions").json()["items"]
    assert everything[-1]["kind"] == "signup_bonus" and everything[-1]["amount"] == "1000.00"


def test_wallet_transactions_are_only_your_own(api_client, make_api_client, other_user):
    make_api_client(other_user)  # another wallet with its own bonus entry

    assert api_client.get("/api/v1/wallet/transactions").json()["count"] == 1
