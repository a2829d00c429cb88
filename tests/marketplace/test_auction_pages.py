"""Auction pages (issue 15): the Auctions filter, the auction page (status, countdown, live
partial, history without maxima), bidding with its confirmation step and the service's
refusals in the page, creating an auction from the listing form, the wallet's holds, and
the notices settlement sends."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Notification
from gamification.models import AgentStats
from marketplace import auctions
from marketplace.models import Bid, Listing, Wallet
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

D = Decimal
HTMX = {"HX-Request": "true"}


def make_auction(seller=None, price="10.00", reserve=None, seconds=3600, name="Bidbot"):
    seller = seller or UserFactory()
    return auctions.auction_create(
        agent=AgentFactory(owner=seller, name=name),
        seller=seller,
        price=price,
        reserve_price=reserve,
        ends_at=timezone.now() + timedelta(seconds=seconds),
    )


def bid(listing, user, amount):
    return auctions.auction_bid(listing=listing, bidder=user, max_amount=amount)


def end_and_settle(listing) -> str | None:
    Listing.objects.filter(pk=listing.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    return auctions.auction_settle(listing_id=listing.pk)


def signed_in(client, user):
    client.force_login(user)
    return client


def page(client, listing, **params) -> str:
    return client.get(f"/marketplace/{listing.pk}/", params).content.decode()


# --- browsing ------------------------------------------------------------------------------


def test_the_auctions_filter_lists_only_auctions(client, make_listing, other_user):
    make_listing(other_user, name="Plain sale")
    make_auction(name="Going once")

    everything = client.get("/marketplace/").content.decode()
    only = client.get("/marketplace/", {"type": "auction"}).content.decode()

    assert "Plain sale" in everything and "Going once" in everything
    assert "Going once" in only and "Plain sale" not in only
    assert '<option value="auction" selected>Auctions</option>' in only
    assert 'class="badge auction"' in only


def test_auction_page_shows_price_next_bid_and_the_end_for_the_countdown(client):
    listing = make_auction(price="10.00")

    html = page(signed_in(client, UserFactory()), listing)

    assert re.search(r'id="current-price">10\.00 credits', html)
    assert re.search(r'id="min-next-bid">10\.00 credits', html)
    assert f'data-ends-at="{listing.ends_at.isoformat()}"' in html
    assert 'id="no-bids"' in html and 'id="review-bid"' in html
    # Polled while it runs.
    assert 'hx-trigger="every 3s"' in html


def test_visitor_sees_the_auction_and_is_asked_to_log_in_to_bid(client):
    listing = make_auction()

    html = page(client, listing)

    assert 'id="login-to-bid"' in html and 'id="review-bid"' not in html


def test_htmx_poll_renders_only_the_live_status(client):
    listing = make_auction()
    signed_in(client, UserFactory())

    full = client.get(f"/marketplace/{listing.pk}/").content.decode()
    part = client.get(
        f"/marketplace/{listing.pk}/", headers={**HTMX, "HX-Target": "auction-status"}
    ).content.decode()

    assert "<html" in full
    assert "<html" not in part and part.lstrip().startswith('<section id="auction-status"')
    assert 'id="bid-panel"' not in part


def test_poll_of_an_auction_the_bidder_may_no_longer_see_stops_and_says_so(client):
    listing = make_auction()
    loser, winner = UserFactory(), UserFactory()
    bid(listing, loser, "20.00")
    bid(listing, winner, "30.00")
    end_and_settle(listing)
    signed_in(client, loser)
    poll = {**HTMX, "HX-Target": "auction-status"}

    gone = client.get(f"/marketplace/{listing.pk}/", headers=poll)
    unknown = client.get("/marketplace/999999/", headers=poll)

    assert gone.status_code == 286 and 'id="auction-gone"' in gone.content.decode()
    assert unknown.status_code == 286 and unknown.content == gone.content
    assert client.get(f"/marketplace/{listing.pk}/").status_code == 404  # the page itself


def test_auction_page_query_budget(client, django_assert_max_num_queries):
    listing = make_auction()
    bidders = [UserFactory() for _ in range(5)]
    for step, bidder in enumerate(bidders):
        bid(listing, bidder, D("20.00") + step * 5)
    signed_in(client, bidders[0])
    with django_assert_max_num_queries(20):
        response = client.get(f"/marketplace/{listing.pk}/")
    assert response.status_code == 200


# --- bidding ---------------------------------------------------------------------------------


def test_confirmation_states_the_hold(client):
    listing = make_auction(price="10.00")
    signed_in(client, UserFactory())

    html = page(client, listing, max_amount="25.00")

    assert "This holds 25.00 credits from your wallet until you are outbid or the auction ends" in (
        html
    )
    assert 'id="confirm-bid"' in html and 'name="idempotency_key"' in html
    assert not Bid.objects.exists()  # nothing happens before the confirmation


def test_confirmation_with_an_unreadable_amount_is_a_422_with_the_form_error(client):
    listing = make_auction()
    signed_in(client, UserFactory())

    response = client.get(f"/marketplace/{listing.pk}/", {"max_amount": "lots"})

    assert response.status_code == 422
    assert 'id="id_max_amount_errors"' in response.content.decode()


def test_confirmed_bid_redirects_and_the_page_says_you_lead(client):
    listing = make_auction(price="10.00")
    bidder = UserFactory()
    signed_in(client, bidder)

    response = client.post(
        f"/marketplace/{listing.pk}/bid/", {"max_amount": "25.00", "idempotency_key": "k1"}
    )
    again = client.post(
        f"/marketplace/{listing.pk}/bid/", {"max_amount": "25.00", "idempotency_key": "k1"}
    )

    assert response.status_code == 302 and response["Location"] == f"/marketplace/{listing.pk}/"
    assert again.status_code == 302  # the double submit bid once
    assert Bid.objects.filter(listing=listing).count() == 1
    html = page(client, listing)
    assert "You lead the auction of Bidbot at 10.00 credits" in html
    assert 'id="my-max">25.00<' in html
    assert Wallet.objects.get(user=bidder).held == D("25.00")


def test_history_shows_prices_never_maxima(client):
    listing = make_auction(price="10.00")
    high, low = UserFactory(), UserFactory()
    bid(listing, high, "50.00")
    bid(listing, low, "30.00")

    html = page(signed_in(client, low), listing)

    assert "31.00" in html and "50.00" not in html
    assert 'id="my-max">30.00<' in html and "You are outbid" in html


@pytest.mark.parametrize(
    ("amount", "status", "title"),
    [("5.00", 409, "Bid not accepted"), ("999999.00", 402, "Not enough credits")],
)
def test_refused_bids_show_in_the_page_with_their_status(client, amount, status, title):
    listing = make_auction(price="10.00")
    signed_in(client, UserFactory())

    response = client.post(f"/marketplace/{listing.pk}/bid/", {"max_amount": amount})

    assert response.status_code == status
    html = response.content.decode()
    assert 'id="bid-error"' in html and title in html
    assert not Bid.objects.exists()


def test_unreadable_bid_is_a_422_in_the_page(client):
    listing = make_auction()
    signed_in(client, UserFactory())

    response = client.post(f"/marketplace/{listing.pk}/bid/", {"max_amount": "1.234"})

    assert response.status_code == 422 and 'id="bid-error"' in response.content.decode()


def test_seller_cannot_bid_and_sees_their_auction(client):
    listing = make_auction()
    signed_in(client, listing.seller)

    response = client.post(f"/marketplace/{listing.pk}/bid/", {"max_amount": "50.00"})

    assert response.status_code == 409
    assert "You cannot bid on your own auction" in response.content.decode()
    assert "This is your auction" in page(client, listing)


def test_ended_auction_awaiting_settlement_offers_no_bid_form(client):
    listing = make_auction()
    Listing.objects.filter(pk=listing.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    signed_in(client, UserFactory())

    html = page(client, listing)
    refused = client.post(f"/marketplace/{listing.pk}/bid/", {"max_amount": "50.00"})

    assert 'id="auction-over"' in html and 'id="review-bid"' not in html
    assert "ended, settling" in html
    assert refused.status_code == 409 and "This auction has ended" in refused.content.decode()


def test_bidding_on_a_sale_listing_is_a_409(client, make_listing, other_user):
    listing = make_listing(other_user)
    signed_in(client, UserFactory())

    response = client.post(f"/marketplace/{listing.pk}/bid/", {"max_amount": "500.00"})

    assert response.status_code == 409


def test_bid_needs_login(client):
    listing = make_auction()

    response = client.post(f"/marketplace/{listing.pk}/bid/", {"max_amount": "50.00"})

    assert response.status_code == 302 and response["Location"].startswith("/account/login/")


def test_closed_auction_is_hidden_from_strangers_and_shows_the_result_to_the_winner(client):
    listing = make_auction()
    winner = UserFactory()
    bid(listing, winner, "40.00")
    assert end_and_settle(listing) == "sold"

    stranger = client.get(f"/marketplace/{listing.pk}/")  # a visitor: sent to log in
    html = page(signed_in(client, winner), listing)

    assert stranger.status_code == 302
    assert "You won this auction for" in html and 'hx-trigger="every 3s"' not in html
    assert "This auction is over" in html


# --- creating ----------------------------------------------------------------------------


def auction_form(agent, **fields) -> dict:
    ends = (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    return {
        "agent": agent.pk,
        "listing_type": "auction",
        "price": "15.00",
        "reserve_price": "",
        "ends_at": ends,
        **fields,
    }


def test_seller_creates_an_auction_from_the_listing_form(client, user):
    agent = AgentFactory(owner=user)
    signed_in(client, user)

    form = client.get("/marketplace/mine/").content.decode()
    response = client.post("/marketplace/mine/", auction_form(agent, reserve_price="30.00"))

    assert 'value="auction"' in form and 'name="ends_at"' in form
    listing = Listing.objects.get(agent=agent)
    assert response.status_code == 302 and response["Location"] == f"/marketplace/{listing.pk}/"
    assert listing.is_auction and listing.price == D("15.00")
    assert listing.reserve_price == D("30.00") and listing.ends_at > timezone.now()


def test_auction_form_needs_an_end(client, user):
    agent = AgentFactory(owner=user)
    signed_in(client, user)

    response = client.post("/marketplace/mine/", auction_form(agent, ends_at=""))

    assert response.status_code == 422 and "When does the auction end?" in response.content.decode()
    assert not Listing.objects.exists()


def test_auction_ending_too_soon_is_refused_in_the_form(client, user):
    agent = AgentFactory(owner=user)
    signed_in(client, user)
    soon = (timezone.now() + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")

    response = client.post("/marketplace/mine/", auction_form(agent, ends_at=soon))

    assert response.status_code == 422
    assert "An auction ends between" in response.content.decode()
    assert not Listing.objects.exists()


def test_reserve_below_the_start_price_is_refused_in_the_form(client, user):
    agent = AgentFactory(owner=user)
    signed_in(client, user)

    response = client.post("/marketplace/mine/", auction_form(agent, reserve_price="5.00"))

    assert response.status_code == 422
    assert "The reserve price must be at least the start price" in response.content.decode()


def test_sale_form_ignores_auction_fields(client, user):
    agent = AgentFactory(owner=user)
    signed_in(client, user)

    response = client.post(
        "/marketplace/mine/", auction_form(agent, listing_type="sale", reserve_price="99.00")
    )

    listing = Listing.objects.get(agent=agent)
    assert response.status_code == 302
    assert listing.listing_type == "sale" and listing.reserve_price is None


# --- the wallet ------------------------------------------------------------------------------


def test_wallet_shows_held_credits_and_the_auctions_holding_them(client):
    listing = make_auction(name="Heldbot")
    bidder = UserFactory()
    bid(listing, bidder, "40.00")

    signed_in(client, bidder)
    html = client.get("/marketplace/wallet/").content.decode()

    assert re.search(r'id="wallet-held">40\.00<', html)
    assert re.search(r'id="wallet-available">960\.00<', html)
    assert f'href="/marketplace/{listing.pk}/">Heldbot</a>' in html


def test_wallet_without_holds_says_so(client, user):
    html = signed_in(client, user).get("/marketplace/wallet/").content.decode()

    assert 'id="no-holds"' in html


# --- notices and achievements from the auction services --------------------------------------


def texts(user) -> list[str]:
    return list(Notification.objects.filter(user=user).values_list("text", flat=True))


def test_outbid_bidder_is_notified_once(client):
    listing = make_auction(name="Noticebot")
    first, second = UserFactory(), UserFactory()
    bid(listing, first, "20.00")
    bid(listing, second, "30.00")
    bid(listing, first, "25.00")  # does not take the lead back: nobody is outbid

    assert texts(first) == ["You were outbid on Noticebot: the price is now 21.00 credits."]
    assert texts(second) == []
    html = signed_in(client, first).get("/marketplace/").content.decode()
    assert re.search(r'id="unread-count">1<', html)


def test_settlement_tells_the_winner_and_the_seller(client):
    listing = make_auction(name="Soldbot")
    winner, loser = UserFactory(), UserFactory()
    bid(listing, loser, "20.00")
    bid(listing, winner, "30.00")

    assert end_and_settle(listing) == "sold"

    assert texts(winner) == ["You won the auction of Soldbot for 21.00 credits. It is yours now."]
    sold = f"Your auction of Soldbot sold to {winner.username} for 21.00 credits."
    assert texts(listing.seller) == [sold]
    assert len(texts(loser)) == 1  # outbid, nothing more
    assert Notification.objects.get(user=winner).url == f"/marketplace/{listing.pk}/"


def test_unsold_auction_tells_the_seller_and_the_leader(client):
    listing = make_auction(name="Reservebot", reserve="100.00")
    leader = UserFactory()
    bid(listing, leader, "50.00")

    assert end_and_settle(listing) == "unsold"

    assert texts(listing.seller) == ["Your auction of Reservebot ended unsold (reserve not met)."]
    assert texts(leader) == [
        "The auction of Reservebot ended unsold (reserve not met); your hold is released."
    ]
    assert Notification.objects.get(user=leader).url == "/marketplace/wallet/"
    assert Wallet.objects.get(user=leader).held == 0


def test_auction_without_bids_tells_the_seller(client):
    listing = make_auction(name="Lonelybot")

    assert end_and_settle(listing) == "unsold"

    assert texts(listing.seller) == ["Your auction of Lonelybot ended unsold (no bids)."]


def test_sold_auction_counts_its_sale_and_unlocks_the_auction_achievements(
    django_capture_on_commit_callbacks,
):
    listing = make_auction()
    bid(listing, UserFactory(), "30.00")

    with django_capture_on_commit_callbacks(execute=True):
        end_and_settle(listing)

    stats = AgentStats.objects.get(agent_id=listing.agent_id)
    assert stats.auction_sales_count == 1 and stats.sales_count == 1
    assert stats.earnings == D("9.00")  # 10.00 − the 10% fee
    assert {"first_sale", "first_auction_sold", "first_auction_won"} <= set(stats.achievement_codes)


def test_unsold_auction_unlocks_nothing():
    listing = make_auction(reserve="100.00")
    bid(listing, UserFactory(), "30.00")

    end_and_settle(listing)

    stats, _ = AgentStats.objects.get_or_create(agent_id=listing.agent_id)
    assert stats.auction_sales_count == 0 and stats.achievement_codes == []


def test_agent_page_panel_shows_the_auction(client):
    listing = make_auction(name="Panelbot")
    bid(listing, UserFactory(), "20.00")
    signed_in(client, listing.seller)

    html = client.get(f"/dashboard/agents/{listing.agent_id}/").content.decode()

    assert 'class="badge auction">at auction' in html and "1 bid," in html
    assert "The auction has bids" in html  # no withdraw button: it ends at its time


def test_agent_page_offers_an_auction_and_the_form_preselects_it(client, user):
    agent = AgentFactory(owner=user)
    signed_in(client, user)

    panel = client.get(f"/dashboard/agents/{agent.pk}/").content.decode()
    form = client.get("/marketplace/mine/", {"agent": agent.pk, "type": "auction"}).content.decode()
    terms = client.get(
        "/marketplace/mine/",
        {"price": "50.00", "listing_type": "auction"},
        headers={**HTMX, "HX-Target": "listing-terms"},
    ).content.decode()

    assert f"?agent={agent.pk}&amp;type=auction" in panel
    assert re.search(r'value="auction"[^>]*checked', form)
    assert "final price of an auction" in terms and "At the start price" in terms
