"""The marketplace in a real browser: browse, filter in place, rent an agent as a second
user, chat with it, and read the wallet's ledger. The worker runs in this process and the
model is the local fake OpenAI-compatible server."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from marketplace.services import listing_create
from tests.agents.conftest import fake_llm, worker  # noqa: F401 - fixtures
from tests.factories import TEST_PASSWORD, AgentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, user):
    page.goto("/account/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_browse_filter_rent_chat_and_see_the_ledger(page, shot, worker, fake_llm):  # noqa: F811
    seller = UserFactory(username="seller")
    multiplier = AgentFactory(
        owner=seller, name="Multiplier", model="openai:two-step", description="Does sums."
    )
    listing_create(
        agent=multiplier,
        seller=seller,
        listing_type="rent",
        price=Decimal("25.00"),
        rental_days=3,
    )
    for name, price in [("Poet", "300.00"), ("Critic", "80.00")]:
        listing_create(
            agent=AgentFactory(owner=seller, name=name),
            seller=seller,
            listing_type="sale",
            price=Decimal(price),
        )
    renter = UserFactory(username="renter")
    log_in(page, renter)

    page.get_by_role("link", name="Marketplace").click()
    table = page.locator("#listing-table")
    expect(table.locator("tbody tr")).to_have_count(3)
    shot(page, "browse")

    # Filters update the results in place and keep the URL shareable.
    page.evaluate("window.noReload = true")
    page.get_by_label("Type").select_option("rent")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Multiplier")
    assert "type=rent" in page.url
    page.get_by_label("Sort").select_option("-price")
    page.get_by_label("Type").select_option("")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("Poet")
    assert page.evaluate("window.noReload") is True
    shot(page, "filtered")
    page.get_by_label("Search").fill("multi")
    expect(table.locator("tbody tr")).to_have_count(1)

    page.get_by_role("link", name="Multiplier").click()
    page.get_by_role("link", name="Rent for 3 days").click()
    confirm = page.locator("#purchase-confirm")
    expect(confirm).to_contain_text("25.00")
    expect(page.locator("#balance-after")).to_have_text("975.00")
    expect(page.locator("#expires-preview")).to_be_visible()
    shot(page, "confirm")
    page.get_by_role("button", name="Confirm: pay 25.00 credits").click()
    expect(page.locator("#purchase-done")).to_contain_text("You rent Multiplier until")
    shot(page, "rented")

    # The rented agent is on the dashboard with its expiry; chat with it.
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#agent-table")).to_contain_text("Multiplier")
    expect(page.locator("#agent-table")).to_contain_text("until")
    shot(page, "dashboard")
    page.goto(f"/dashboard/agents/{multiplier.pk}/chat/")
    page.get_by_label("Message").fill("What is 6 times 7?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".answer-text").last).to_contain_text("The answer is 42", timeout=30_000)
    shot(page, "chat")

    page.get_by_role("link", name="Wallet").click()
    expect(page.locator("#wallet-balance")).to_have_text("975.00 credits")
    ledger = page.locator("#ledger-table")
    expect(ledger).to_contain_text("Rental")
    expect(ledger).to_contain_text("-25.00")
    expect(ledger).to_contain_text("Signup bonus")
    expect(page.locator("#rental-table")).to_contain_text("Multiplier")
    shot(page, "wallet")

    # The seller sees the rental and what it earned.
    page.get_by_role("button", name="Log out").click()
    log_in(page, seller)
    page.goto("/marketplace/mine/")
    expect(page.locator("#sales-table")).to_contain_text("renter")
    expect(page.locator("#sales-table")).to_contain_text("22.50")
    shot(page, "seller-sales")


def test_a_visitor_browses_and_a_seller_sees_the_fee_before_listing(page, shot):
    seller = UserFactory(username="lister")
    listing_create(
        agent=AgentFactory(owner=seller, name="Public"),
        seller=seller,
        listing_type="sale",
        price=Decimal("40.00"),
    )
    AgentFactory(owner=seller, name="Unlisted")

    # Not logged in: the marketplace and the listing are readable; buying asks to log in.
    page.goto("/marketplace/")
    expect(page.locator("#listing-table")).to_contain_text("not rated yet")
    page.get_by_role("link", name="Public").click()
    expect(page.get_by_role("link", name="Log in to buy · 40.00 credits")).to_be_visible()
    shot(page, "visitor-listing")

    log_in(page, seller)
    page.goto("/marketplace/mine/")
    days = page.get_by_label("Rental days")
    page.get_by_label("Sell (ownership moves to the buyer)").check()
    expect(days).to_be_hidden()  # a sale has no rental period
    page.get_by_label("Rent (time-limited use)").check()
    expect(days).to_be_visible()
    page.get_by_label("Price in credits").fill("20")
    expect(page.locator("#income-amount")).to_have_text("18.00")  # 10% fee, live
    expect(page.locator("#listing-terms")).to_contain_text("per rental")
    shot(page, "listing-form")
