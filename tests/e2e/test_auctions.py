"""An auction in a real browser (issue 15): the seller lists an agent as an auction; buyer A
bids (the confirmation states the hold), buyer B outbids A, A's page turns to "outbid" by
itself and A reads the outbid notice in the header, bids again, the auction ends and is
settled by the worker's job, and A sees "won" and owns the agent."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Notification
from agents.models import Agent
from marketplace import auctions
from marketplace.models import Listing
from tests.factories import AgentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def bid(page, amount: str) -> None:
    page.get_by_label("Your maximum bid in credits").fill(amount)
    page.get_by_role("button", name="Review bid").click()
    expect(page.locator("#hold-note")).to_contain_text(
        f"This holds {amount} credits from your wallet until you are outbid or the auction ends"
    )


def test_list_bid_outbid_notice_win(browser_context, shot, settings):
    # A short auction: the seller may end it a minute from now (AUCTION_MIN_SECONDS, read
    # from the environment in production), and late bids do not push the end out much.
    settings.AUCTION_MIN_SECONDS = 60
    settings.AUCTION_SOFT_CLOSE_SECONDS = 1
    seller = UserFactory(username="seller")
    AgentFactory(owner=seller, name="Gavelbot", description="Sold to the highest bidder.")
    buyer_a, buyer_b = UserFactory(username="alice"), UserFactory(username="bob")

    # The seller lists the agent as an auction from the "list this agent" form.
    seller_page = browser_context(user=seller).new_page()
    seller_page.goto("/marketplace/mine/")
    seller_page.get_by_label("Agent").select_option(label="Gavelbot")
    seller_page.get_by_label("Auction (the highest bid at the end buys it)").check()
    seller_page.get_by_label("Price in credits").fill("10.00")
    ends = timezone.now() + timedelta(hours=1)
    seller_page.get_by_label("Auction ends (UTC)").fill(ends.strftime("%Y-%m-%dT%H:%M"))
    shot(seller_page, "list-form")
    seller_page.get_by_role("button", name="List it").click()
    expect(seller_page.locator("#current-price")).to_have_text("10.00 credits")
    listing = Listing.objects.get(agent__name="Gavelbot", status="active")
    assert listing.is_auction
    url = f"/marketplace/{listing.pk}/"
    shot(seller_page, "listed")

    # A bids 20: the confirmation states the hold, then A leads at the start price.
    page_a = browser_context(user=buyer_a).new_page()
    page_a.goto("/marketplace/?type=auction")
    page_a.get_by_role("link", name="Gavelbot").click()
    expect(page_a.locator("#time-left")).to_contain_text("left")
    bid(page_a, "20.00")
    shot(page_a, "a-confirm")
    page_a.get_by_role("button", name="Confirm: bid up to 20.00 credits").click()
    expect(page_a.locator(".message.success")).to_contain_text("You lead the auction")
    expect(page_a.locator("#my-bid-status")).to_contain_text("You lead")
    shot(page_a, "a-leads")

    # B outbids A.
    page_b = browser_context(user=buyer_b).new_page()
    page_b.goto(url)
    bid(page_b, "30.00")
    page_b.get_by_role("button", name="Confirm: bid up to 30.00 credits").click()
    expect(page_b.locator("#my-bid-status")).to_contain_text("You lead")
    expect(page_b.locator("#current-price")).to_have_text("21.00 credits")
    shot(page_b, "b-leads")

    # A's page polls its status: it says "outbid" without a reload.
    expect(page_a.locator("#my-bid-status")).to_contain_text("You are outbid", timeout=10_000)
    expect(page_a.locator("#current-price")).to_have_text("21.00 credits")
    # The notice is in the header on the next page A opens.
    page_a.goto("/marketplace/")
    expect(page_a.locator("#unread-count")).to_contain_text("1")
    page_a.locator("#nav-notifications").click()
    notice = page_a.get_by_role("link", name="You were outbid on Gavelbot")
    expect(notice).to_be_visible()
    shot(page_a, "a-outbid-notice")
    page_a.get_by_role("button", name="Mark all read").click()
    expect(page_a.locator("#unread-count")).to_have_count(0)
    notice.click()

    # A bids again, above B's maximum.
    bid(page_a, "40.00")
    page_a.get_by_role("button", name="Confirm: bid up to 40.00 credits").click()
    expect(page_a.locator("#my-bid-status")).to_contain_text("You lead")
    expect(page_a.locator("#current-price")).to_have_text("31.00 credits")
    page_a.goto("/marketplace/wallet/")
    expect(page_a.locator("#wallet-held")).to_have_text("40.00")
    expect(page_a.locator("#hold-table")).to_contain_text("Gavelbot")
    shot(page_a, "a-wallet-held")

    # The auction ends; the worker's periodic job settles it.
    Listing.objects.filter(pk=listing.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert auctions.auctions_settle_due() == 1

    page_a.goto(url)
    expect(page_a.locator("#auction-result")).to_contain_text("You won this auction")
    expect(page_a.locator("#unread-count")).to_contain_text("1")
    shot(page_a, "a-won")
    page_a.locator("#nav-notifications").click()
    expect(page_a.get_by_role("link", name="You won the auction of Gavelbot")).to_be_visible()
    page_a.goto("/dashboard/")
    expect(page_a.locator("#agent-table")).to_contain_text("Gavelbot")
    shot(page_a, "a-owns")

    assert Agent.objects.get(name="Gavelbot").owner == buyer_a
    assert Notification.objects.filter(user=seller, text__contains="sold to alice").exists()
