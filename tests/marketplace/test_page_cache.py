"""The page cache (core.pagecache) on the listings' first page for a sort without filters:
kept on a second visit, and new, sold or re-rated listings are there on the next
(PostgreSQL only)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

import core.paginator
from gamification.models import AgentStats
from marketplace.models import Listing
from tests.agents.test_page_cache import page, postgres_only, visit
from tests.factories import AgentFactory, AgentStatsFactory, ListingFactory

pytestmark = [pytest.mark.django_db, postgres_only]

URL = reverse("marketplace:listing_list")


@pytest.fixture(autouse=True)
def kept_totals(monkeypatch):
    """The page is kept while its total is, as a large list's is (core.paginator)."""
    monkeypatch.setattr(core.paginator, "EXACT_BELOW", 1)


def listed(name, rating=None, price="10.00"):
    agent = AgentFactory(name=name)
    if rating is not None:
        AgentStatsFactory(agent=agent, rating=rating, total_ratings=3)
    return ListingFactory(agent=agent, price=Decimal(price))


def fillers(count, *, rating=0.1):
    """Listings behind every test's own: more than a page, so a kept (stale) total never
    cuts the first page short, as with a large list's."""
    for number in range(count):
        listed(f"Filler {number}", rating=rating, price="500.00")


def prime(client, url):
    client.get(url)  # keeps the total
    return visit(client, url)


@pytest.mark.parametrize("sort", ["", "?sort=-rating", "?sort=price", "?sort=-level"])
def test_new_sold_and_changed_listings_show(sort):
    client = Client()
    fillers(30)
    listed("Already There", rating=3.0)
    prime(client, URL + sort)
    fresh = listed("Freshly Listed", rating=4.5)
    assert "Freshly Listed" in page(client, URL + sort)
    Listing.objects.filter(pk=fresh.pk).update(status="sold")
    assert "Freshly Listed" not in page(client, URL + sort)
    Listing.objects.filter(agent__name="Already There").update(price=Decimal("77.00"))
    assert "77" in page(client, URL + sort)


def test_a_rating_change_reorders_the_best_first():
    client = Client()
    fillers(30)
    low, high = listed("Low Rated", rating=1.0), listed("High Rated", rating=5.0)
    body = prime(client, URL + "?sort=-rating")
    assert body.index("High Rated") < body.index("Low Rated")
    AgentStats.objects.filter(agent=low.agent).update(rating=5.0, total_ratings=9)
    AgentStats.objects.filter(agent=high.agent).update(rating=0.5)
    body = page(client, URL + "?sort=-rating")
    assert body.index("Low Rated") < body.index("High Rated")


def test_unrated_listings_follow_the_rated_ones():
    client = Client()
    fillers(24)  # fewer than a page are rated: the page ends with unrated ones
    listed("Old Unrated")
    assert "Old Unrated" in prime(client, URL + "?sort=-rating")
    listed("Never Rated")
    body = page(client, URL + "?sort=-rating")
    assert "Never Rated" in body
    assert "Old Unrated" not in body  # the newest unrated comes first; the page is full


def test_filters_are_rendered():
    client = Client()
    listed("Filtered", rating=1.0)
    client.get(URL + "?type=sale")
    assert getattr(client.get(URL + "?type=sale"), "page_cache", None) is None
