"""Marketplace pages: access triads, htmx full-page/partial pairs, query budgets, flows."""

from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from agents.models import Agent
from gamification.models import AgentStats
from marketplace import panels, services
from marketplace.models import Listing, Transaction, Wallet
from tests.factories import AgentFactory, ListingFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def htmx_to(target: str) -> dict:
    return {**HTMX, "HX-Target": target}


# --- browser -------------------------------------------------------------------------------


def test_own_pages_need_login(client):
    for path in ["/marketplace/mine/", "/marketplace/wallet/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/account/login/")


def test_visitors_browse_listings_and_are_asked_to_log_in_to_buy(client, other_user, make_listing):
    listing = make_listing(other_user, price="12.50", name="Public agent")

    browse = client.get("/marketplace/").content.decode()
    detail = client.get(f"/marketplace/{listing.pk}/").content.decode()
    confirm = client.get(f"/marketplace/{listing.pk}/", {"confirm": "1"}).content.decode()

    assert "Public agent" in browse and "Log in to buy, rent or sell" in browse
    assert "/marketplace/wallet/" not in browse and "My listings" not in browse
    assert 'id="login-to-buy"' in detail and "Log in to buy · 12.50 credits" in detail
    assert f"/account/login/?next=/marketplace/{listing.pk}/" in detail
    assert "Balance after" not in confirm and 'id="login-to-buy"' in confirm


def test_visitors_cannot_buy_and_closed_listings_ask_them_to_log_in(
    client, other_user, make_listing
):
    listing = make_listing(other_user)
    closed = make_listing(other_user)
    services.listing_withdraw(listing=closed, by=other_user)

    purchase = client.post(f"/marketplace/{listing.pk}/purchase/", {})
    withdrawn = client.get(f"/marketplace/{closed.pk}/")
    missing = client.get("/marketplace/999999/")

    assert purchase.status_code == 302 and purchase["Location"].startswith("/account/login/")
    for response in (withdrawn, missing):
        assert response.status_code == 302 and response["Location"].startswith("/account/login/")
    assert not Transaction.objects.exists()


def test_visitor_browser_query_budget(client, other_user, django_assert_max_num_queries):
    for _ in range(25):
        ListingFactory(agent=AgentFactory(owner=other_user))

    with django_assert_max_num_queries(3):
        client.get("/marketplace/")


def test_browser_lists_active_listings_escaped(user_client, other_user, make_listing):
    make_listing(other_user, "rent", price="12.50", name="<script>x</script>", tools=["wiki"])
    withdrawn = make_listing(other_user, name="Gone agent")
    services.listing_withdraw(listing=withdrawn, by=other_user)

    content = user_client.get("/marketplace/").content.decode()

    assert "<html" in content and 'id="listing-results"' in content
    assert "&lt;script&gt;x&lt;/script&gt;" in content and "<script>x" not in content
    assert "12.50" in content and "rent · 7d" in content and "wiki" in content
    assert "not rated yet" in content and "☆" not in content and "0.0/5" not in content
    assert "Gone agent" not in content


def test_rated_agents_show_stars(user_client, other_user, make_listing):
    from tests.factories import AgentStatsFactory

    listing = make_listing(other_user, name="Rated one")
    AgentStatsFactory(agent=listing.agent, rating=4.2, total_ratings=3)

    content = user_client.get("/marketplace/").content.decode()

    assert "★★★★☆" in content and "4.2/5" in content and "(3)" in content
    assert "not rated yet" not in content


def test_htmx_request_renders_only_results(user_client, other_user, make_listing):
    make_listing(other_user, name="Alpha")
    make_listing(other_user, name="Beta")

    content = user_client.get("/marketplace/", {"q": "alp"}, headers=HTMX).content.decode()

    assert content.lstrip().startswith('<section id="listing-results"')
    assert "<html" not in content and "Alpha" in content and "Beta" not in content


def test_browser_filters_and_sorts(user_client, other_user, make_listing):
    make_listing(other_user, "rent", price="5.00", name="Renter")
    make_listing(other_user, price="50.00", name="Midsale")
    make_listing(other_user, price="500.00", name="Bigsale")

    rent = user_client.get("/marketplace/", {"type": "rent"}).content.decode()
    ranged = user_client.get("/marketplace/", {"min_price": "10", "max_price": "100"})
    by_price = user_client.get("/marketplace/", {"sort": "-price"}).content.decode()

    assert "Renter" in rent and "Midsale" not in rent
    assert "Midsale" in ranged.content.decode() and "Bigsale" not in ranged.content.decode()
    assert by_price.index("Bigsale") < by_price.index("Midsale") < by_price.index("Renter")


def test_rating_sorts_page_through_rated_then_unrated_agents(
    client, other_user, make_listing, monkeypatch
):
    # Read in two index-ordered parts (marketplace.models.StatsSortedListings): pages that
    # cross from one to the other keep sorted_by's order, the agents without a stats row
    # last descending and first ascending.
    monkeypatch.setattr("marketplace.views.PAGE_SIZE", 2)
    listings = {name: make_listing(other_user, name=name) for name in ("Top", "Mid", "Low")}
    for name, rating in (("Top", 4.5), ("Mid", 3.0), ("Low", 1.0)):
        AgentStats.objects.create(agent=listings[name].agent, rating=rating, total_ratings=3)
    unrated = make_listing(other_user, name="Unrated")
    assert not AgentStats.objects.filter(agent=unrated.agent).exists()  # no stats row at all

    def names(sort: str) -> list[str]:
        pages = [client.get("/marketplace/", {"sort": sort, "page": n}) for n in (1, 2)]
        content = "".join(page.content.decode() for page in pages)
        found = {name: content.find(f">{name}</a>") for name in (*listings, "Unrated")}
        assert all(index >= 0 for index in found.values()), found
        return sorted(found, key=found.__getitem__)

    assert names("-rating") == ["Top", "Mid", "Low", "Unrated"]
    assert names("rating") == ["Unrated", "Low", "Mid", "Top"]


def test_cached_rows_show_changes_at_once(client, other_user, make_listing):
    listing = make_listing(other_user, price="12.50", name="Before")
    assert "Before" in client.get("/marketplace/").content.decode()

    Agent.objects.filter(pk=listing.agent_id).update(name="After")  # no signal, no save()
    Listing.objects.filter(pk=listing.pk).update(price=Decimal("99.00"))
    content = client.get("/marketplace/").content.decode()

    assert "After" in content and "99.00" in content and "Before" not in content


def test_bad_filters_are_ignored_not_500(user_client, other_user, make_listing):
    make_listing(other_user, name="Still here")

    response = user_client.get("/marketplace/", {"min_price": "abc", "sort": "x", "q": "\x00"})

    assert response.status_code == 200


def test_browser_empty_states(user_client):
    assert b"Nothing for sale or rent yet" in user_client.get("/marketplace/").content
    assert b"No listings match" in user_client.get("/marketplace/", {"q": "zzz"}).content


def test_browser_paginates_keeping_filters(user_client, other_user):
    for _ in range(30):
        ListingFactory(agent=AgentFactory(owner=other_user), listing_type="rent")

    first = user_client.get("/marketplace/", {"type": "rent"}).content.decode()
    second = user_client.get("/marketplace/", {"type": "rent", "page": 2}).content.decode()

    assert "page 1 of 2" in first and "type=rent&amp;page=2" in first
    assert "page 2 of 2" in second


def test_browser_query_budget(user_client, other_user, django_assert_max_num_queries):
    for _ in range(25):
        ListingFactory(agent=AgentFactory(owner=other_user))

    with django_assert_max_num_queries(5):
        user_client.get("/marketplace/")


# --- listing page --------------------------------------------------------------------------


def test_listing_page_triad(client, user, other_user, make_listing):
    listing = make_listing(user, name="Mine to sell")
    withdrawn = make_listing(user)
    services.listing_withdraw(listing=withdrawn, by=user)

    client.force_login(user)
    seller = client.get(f"/marketplace/{listing.pk}/").content.decode()
    assert "This is your listing" in seller and "Withdraw listing" in seller
    assert client.get(f"/marketplace/{withdrawn.pk}/").status_code == 200

    client.force_login(other_user)
    viewer = client.get(f"/marketplace/{listing.pk}/").content.decode()
    assert "Buy · 100.00 credits" in viewer and "Withdraw listing" not in viewer
    assert client.get(f"/marketplace/{withdrawn.pk}/").status_code == 404  # stranger
    assert client.get("/marketplace/999999/").status_code == 404


def test_confirmation_states_price_balance_after_and_expiry(user_client, other_user, make_listing):
    listing = make_listing(other_user, "rent", price="250.00", rental_days=10)

    full = user_client.get(f"/marketplace/{listing.pk}/", {"confirm": "1"}).content.decode()
    part = user_client.get(
        f"/marketplace/{listing.pk}/", {"confirm": "1"}, headers=htmx_to("purchase-panel")
    ).content.decode()

    assert "<html" in full and "<html" not in part
    assert part.lstrip().startswith('<section id="purchase-panel"')
    for content in (full, part):
        assert "Balance after" in content and "750.00" in content
        assert "Rental expires" in content and 'name="idempotency_key"' in content


def test_purchase_without_js_redirects_with_a_message(user_client, user, other_user, make_listing):
    listing = make_listing(other_user, price="100.00")

    response = user_client.post(
        f"/marketplace/{listing.pk}/purchase/", {"idempotency_key": "abc"}, follow=True
    )

    assert response.redirect_chain[-1][0] == f"/marketplace/{listing.pk}/"
    assert b"You bought" in response.content
    assert Agent.objects.get(pk=listing.agent_id).owner == user
    # a double submit of the same form pays once
    user_client.post(f"/marketplace/{listing.pk}/purchase/", {"idempotency_key": "abc"})
    assert Transaction.objects.count() == 1


def test_htmx_purchase_returns_the_panel(user_client, other_user, make_listing):
    listing = make_listing(other_user, "rent", price="10.00")

    response = user_client.post(
        f"/marketplace/{listing.pk}/purchase/", {}, headers=htmx_to("purchase-panel")
    )

    content = response.content.decode()
    assert response.status_code == 200 and "<html" not in content
    assert "You rent" in content and 'id="rental-status"' in content


def test_insufficient_credits_is_a_clear_402(user_client, other_user, make_listing):
    listing = make_listing(other_user, price="1500.00")

    plain = user_client.post(f"/marketplace/{listing.pk}/purchase/", {})
    htmx = user_client.post(f"/marketplace/{listing.pk}/purchase/", {}, headers=HTMX)

    assert plain.status_code == 402 and b"Not enough credits" in plain.content
    assert htmx.status_code == 200 and b"Not enough credits" in htmx.content
    assert b"<html" not in htmx.content


def test_just_sold_listing_is_a_clear_409(client, user, other_user, make_listing):
    listing = make_listing(other_user)
    services.listing_purchase(listing=listing, buyer=UserFactory())
    client.force_login(user)

    # the buyer raced us: the listing is no longer visible to a stranger
    assert client.post(f"/marketplace/{listing.pk}/purchase/", {}).status_code == 404
    rent = make_listing(other_user, "rent")
    services.listing_withdraw(listing=rent, by=other_user)
    Transaction.objects.create(buyer=user, listing=rent, kind="rental", amount=1)  # past buyer
    response = client.post(f"/marketplace/{rent.pk}/purchase/", {})
    assert response.status_code == 409 and b"no longer available" in response.content


def test_listing_page_query_budget(
    user_client, other_user, make_listing, django_assert_max_num_queries
):
    listing = make_listing(other_user, "rent")

    with django_assert_max_num_queries(12):
        user_client.get(f"/marketplace/{listing.pk}/", {"confirm": "1"})


# --- my listings ---------------------------------------------------------------------------


def test_my_listings_create_from_an_owned_agent(user_client, user):
    agent = AgentFactory(owner=user, name="Sellable")

    page = user_client.get("/marketplace/mine/", {"agent": agent.pk, "type": "rent"})
    response = user_client.post(
        "/marketplace/mine/",
        {"agent": agent.pk, "listing_type": "rent", "price": "7.25", "rental_days": "14"},
    )

    assert b"Sellable" in page.content
    listing = Listing.objects.get(agent=agent)
    assert response.status_code == 302 and response["Location"] == f"/marketplace/{listing.pk}/"
    assert listing.price == Decimal("7.25") and listing.rental_days == 14


def test_listing_form_states_the_fee_before_listing(user_client, user, settings):
    settings.MARKETPLACE_FEE_PERCENT = Decimal("10")
    AgentFactory(owner=user, name="Sellable")

    page = user_client.get("/marketplace/mine/").content.decode()
    preview = user_client.get(
        "/marketplace/mine/",
        {"price": "7.25", "listing_type": "rent"},
        headers=htmx_to("listing-terms"),
    ).content.decode()
    not_a_price = user_client.get(
        "/marketplace/mine/", {"price": "abc"}, headers=htmx_to("listing-terms")
    ).content.decode()

    assert 'id="listing-terms"' in page and "keeps <strong>10%</strong>" in page
    assert 'hx-get="/marketplace/mine/"' in page and 'hx-target="#listing-terms"' in page
    assert preview.lstrip().startswith('<div id="listing-terms"') and "<html" not in preview
    assert "7.25 credits per rental" in preview
    assert '<dd class="mono" id="fee-amount">0.73</dd>' in preview  # half-up to the cent
    assert '<dd class="mono" id="income-amount">6.52</dd>' in preview
    assert "Enter a price" in not_a_price and "fee-amount" not in not_a_price
    assert not Listing.objects.exists()


def test_the_fee_preview_follows_the_fee_setting(user_client, user, settings):
    settings.MARKETPLACE_FEE_PERCENT = Decimal("2.5")

    preview = user_client.get(
        "/marketplace/mine/", {"price": "100"}, headers=htmx_to("listing-terms")
    ).content.decode()

    assert "2.5%" in preview and ">2.50</dd>" in preview and ">97.50</dd>" in preview


def test_a_refused_listing_still_shows_the_amounts(user_client, user):
    mine = AgentFactory(owner=user)

    response = user_client.post(
        "/marketplace/mine/", {"agent": mine.pk, "listing_type": "rent", "price": "20"}
    )

    assert response.status_code == 422
    assert b'id="income-amount">18.00</dd>' in response.content


def test_rental_days_sit_in_the_rent_only_section(user_client, user):
    AgentFactory(owner=user)

    page = user_client.get("/marketplace/mine/").content.decode()

    section = page[page.index('<div class="rent-only">') :][:400]
    assert 'name="rental_days"' in section
    assert 'class="stack listing-form"' in page
    assert "{#" not in page and "comment" not in page  # template comments stay comments


def test_my_listings_form_errors(user_client, user, other_user):
    mine = AgentFactory(owner=user)
    theirs = AgentFactory(owner=other_user)

    missing_days = user_client.post(
        "/marketplace/mine/", {"agent": mine.pk, "listing_type": "rent", "price": "1"}
    )
    not_mine = user_client.post(
        "/marketplace/mine/", {"agent": theirs.pk, "listing_type": "sale", "price": "1"}
    )
    bad_price = user_client.post(
        "/marketplace/mine/", {"agent": mine.pk, "listing_type": "sale", "price": "0.001"}
    )

    assert missing_days.status_code == 422 and b"How many days" in missing_days.content
    assert not_mine.status_code == 422 and b"Select a valid choice" in not_mine.content
    assert bad_price.status_code == 422
    assert not Listing.objects.exists()


def test_my_listings_show_own_listings_and_sales_only(user_client, user, other_user, make_listing):
    sold = make_listing(user, name="Sold one")
    make_listing(other_user, name="Not mine")
    services.listing_purchase(listing=sold, buyer=other_user)

    content = user_client.get("/marketplace/mine/").content.decode()

    assert "Sold one" in content and "Not mine" not in content
    assert 'id="sales-table"' in content and other_user.username in content and "90.00" in content


def test_my_listings_htmx_pair(user_client, user, make_listing):
    make_listing(user)

    full = user_client.get("/marketplace/mine/").content.decode()
    part = user_client.get("/marketplace/mine/", headers=htmx_to("my-listings")).content.decode()

    assert "<html" in full
    assert part.lstrip().startswith('<section id="my-listings"') and "<html" not in part


def test_my_listings_query_budget(
    user_client, user, other_user, make_listing, django_assert_max_num_queries
):
    for _ in range(10):
        services.listing_purchase(listing=make_listing(user, "rent"), buyer=other_user)

    with django_assert_max_num_queries(9):
        user_client.get("/marketplace/mine/")


# --- withdraw ------------------------------------------------------------------------------


def test_withdraw_triad(client, user, other_user, make_listing):
    listing = make_listing(user)
    closed = make_listing(user)
    services.listing_withdraw(listing=closed, by=user)

    client.force_login(other_user)
    assert client.post(f"/marketplace/{listing.pk}/withdraw/").status_code == 403  # viewer
    assert client.post(f"/marketplace/{closed.pk}/withdraw/").status_code == 404  # stranger
    client.force_login(user)
    response = client.post(f"/marketplace/{listing.pk}/withdraw/")
    assert response.status_code == 302 and response["Location"] == "/marketplace/mine/"
    assert Listing.objects.get(pk=listing.pk).status == "withdrawn"
    assert client.get(f"/marketplace/{listing.pk}/withdraw/").status_code == 405


def test_withdraw_htmx_returns_the_fragment_it_came_from(user_client, user, make_listing):
    a, b = make_listing(user), make_listing(user)

    rows = user_client.post(f"/marketplace/{a.pk}/withdraw/", headers=htmx_to("my-listings"))
    panel = user_client.post(f"/marketplace/{b.pk}/withdraw/", headers=htmx_to("purchase-panel"))

    assert rows.content.decode().lstrip().startswith('<section id="my-listings"')
    assert panel.content.decode().lstrip().startswith('<section id="purchase-panel"')
    assert b"withdrawn" in panel.content


def test_withdraw_redirects_only_to_local_next(user_client, user, make_listing):
    a, b = make_listing(user), make_listing(user)

    local = user_client.post(f"/marketplace/{a.pk}/withdraw/", {"next": "/dashboard/"})
    evil = user_client.post(f"/marketplace/{b.pk}/withdraw/", {"next": "https://evil.example/"})

    assert local["Location"] == "/dashboard/"
    assert evil["Location"] == "/marketplace/mine/"


# --- wallet --------------------------------------------------------------------------------


def test_wallet_page_shows_balance_ledger_and_rentals(user_client, user, other_user, make_listing):
    listing = make_listing(other_user, "rent", price="30.00", name="Rented one")
    services.listing_purchase(listing=listing, buyer=user)

    content = user_client.get("/marketplace/wallet/").content.decode()

    assert "970.00 credits" in content and "30.00" in content
    assert "Signup bonus" in content and "-30.00" in content
    assert 'id="rental-table"' in content and "Rented one" in content


def test_wallet_htmx_pair_and_pagination(user_client, user, staff_user):
    for _ in range(30):
        services.wallet_grant(user=user, amount="1", by=staff_user)

    full = user_client.get("/marketplace/wallet/").content.decode()
    part = user_client.get("/marketplace/wallet/", {"page": 2}, headers=HTMX).content.decode()

    assert "<html" in full and "page 1 of 2" in full
    assert part.lstrip().startswith('<section id="ledger-entries"') and "page 2 of 2" in part


def test_wallet_query_budget(
    user_client, user, other_user, make_listing, django_assert_max_num_queries
):
    for _ in range(10):
        services.listing_purchase(listing=make_listing(other_user, "rent"), buyer=user)

    # + the header's unread notifications and the auctions holding credits (issue 15).
    with django_assert_max_num_queries(10):
        user_client.get("/marketplace/wallet/")


def test_wallet_is_your_own(client, user, other_user):
    Wallet.objects.filter(user=other_user).update(balance=Decimal("1000.00"))
    client.force_login(user)

    assert other_user.username not in client.get("/marketplace/wallet/").content.decode()


# --- the agent page's panel ----------------------------------------------------------------


def _panel(agent, user) -> str:
    request = RequestFactory().get("/dashboard/agents/1/")
    request.user = user
    return render_to_string(
        "marketplace/_agent_panel.html",
        {"agent": agent, "marketplace": panels.agent_panel_context(agent=agent, user=user)},
        request=request,
    )


def test_agent_panel_for_owner_and_others(user, other_user, make_listing):
    unlisted = AgentFactory(owner=user)
    listing = make_listing(user, "rent")
    services.listing_purchase(listing=listing, buyer=other_user)

    assert "List for sale" in _panel(unlisted, user)
    owner = _panel(listing.agent, user)
    assert "Withdraw listing" in owner and "1 user rents" in owner
    renter = _panel(listing.agent, other_user)
    assert "You rent this agent until" in renter and "See the listing" in renter
    assert "Withdraw" not in renter


def test_agent_page_shows_the_panel_to_owner_and_renter(client, user, other_user, make_listing):
    listing = make_listing(user, "rent")
    services.listing_purchase(listing=listing, buyer=other_user)

    client.force_login(user)
    owner = client.get(f"/dashboard/agents/{listing.agent_id}/").content.decode()
    client.force_login(other_user)
    renter = client.get(f"/dashboard/agents/{listing.agent_id}/").content.decode()

    assert 'id="marketplace-panel"' in owner and "Withdraw listing" in owner
    assert "You rent this agent until" in renter
