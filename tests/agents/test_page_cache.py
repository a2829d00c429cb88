"""The page cache (core.pagecache) on the agent page and the dashboard: a second visit is
served from the cache, and every kind of write the page shows is there on the next visit,
whatever made it (services, queryset updates, F() counters). PostgreSQL only: elsewhere
pages are never kept, which the last tests check."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent, AgentActivity, Run
from competitions.models import Competition
from gamification.models import AgentStats
from marketplace.models import Listing, Rental
from marketplace.services import listing_create, listing_purchase, listing_withdraw
from social.models import Collaborator, FeedEvent, Follow
from tests.factories import (
    AgentFactory,
    AgentStatsFactory,
    ListingFactory,
    RatingFactory,
    RunFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row versions are PostgreSQL's"
)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def agent(user):
    agent = AgentFactory(owner=user, name="Cached Agent")
    AgentStatsFactory(agent=agent, total_requests=1234, successful_requests=1234)
    return agent


def rent(agent, renter) -> Rental:
    """An unexpired rental of `agent`, whose listing is withdrawn after it: only the rental
    lets `renter` see the agent."""
    listing = listing_create(
        agent=agent, seller=agent.owner, listing_type="rent", price=Decimal(5), rental_days=7
    )
    listing_purchase(listing=listing, buyer=renter)
    listing_withdraw(listing=listing, by=agent.owner)
    return Rental.objects.get(agent=agent, renter=renter)


def visit(client, url, *, expect="hit"):
    """GET `url` twice: the first renders (or is served, if kept before), the second must
    come from the cache; returns the second response's text. The minute is part of the key:
    if it turns between the two, they are sent again."""
    for _ in range(2):
        minute = time.time() // 60
        first = client.get(url)
        assert first.status_code == 200
        second = client.get(url)
        assert second.status_code == 200
        if time.time() // 60 == minute:
            break
    assert getattr(second, "page_cache", None) == expect
    return second.content.decode()


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- the agent page -----------------------------------------------------------------------


@postgres_only
class TestAgentPage:
    def url(self, agent):
        return reverse("agents:agent_detail", args=[agent.pk])

    def test_second_visit_is_kept_and_each_gets_its_own_working_csrf_token(self, user, agent):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        body = visit(client, self.url(agent))
        assert "pagecache-csrf" not in body
        token = body.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        stop = client.post(
            reverse("agents:agent_stop", args=[agent.pk]), {"csrfmiddlewaretoken": token}
        )
        assert stop.status_code == 302
        agent.refresh_from_db()
        assert agent.state == Agent.State.STOPPED

    def test_any_write_to_the_agent_shows(self, owner_client, agent):
        visit(owner_client, self.url(agent))
        Agent.objects.filter(pk=agent.pk).update(name="Renamed By Update")  # no save()
        assert "Renamed By Update" in page(owner_client, self.url(agent))

    def test_counted_runs_show_through_the_stats_row(self, owner_client, agent):
        assert "1,234" in visit(owner_client, self.url(agent))
        AgentStats.objects.filter(agent=agent).update(total_requests=F("total_requests") + 1)
        assert "1,235" in page(owner_client, self.url(agent))

    def test_a_new_run_of_the_viewer_shows(self, owner_client, agent, user):
        visit(owner_client, self.url(agent))
        run = RunFactory(agent=agent, conversation__agent=agent, conversation__user=user)
        assert reverse("agents:run_detail", args=[run.pk]) in page(owner_client, self.url(agent))
        Run.objects.filter(pk=run.pk).update(status="failed")
        assert "failed" in page(owner_client, self.url(agent))

    def test_a_rating_by_someone_else_shows(self, owner_client, agent):
        visit(owner_client, self.url(agent))
        RatingFactory(agent=agent, comment="Remarkably cacheable")
        assert "Remarkably cacheable" in page(owner_client, self.url(agent))

    def test_a_listing_shows_and_a_bid_moves_its_price(self, owner_client, agent, user):
        visit(owner_client, self.url(agent))
        listing = ListingFactory(agent=agent, price=Decimal("123.00"))
        assert "123" in page(owner_client, self.url(agent))
        Listing.objects.filter(pk=listing.pk).update(price=Decimal("456.00"))
        assert "456" in page(owner_client, self.url(agent))

    def test_collaborators_forks_and_activity_show(self, owner_client, agent, user):
        visit(owner_client, self.url(agent))
        helper = UserFactory(username="helper_person")
        Collaborator.objects.create(agent=agent, user=helper, role="viewer")
        assert "helper_person" in page(owner_client, self.url(agent))
        AgentFactory(forked_from=agent, name="Public Fork Child", visibility="public")
        assert "Public Fork Child" in page(owner_client, self.url(agent))
        AgentActivity.objects.create(agent=agent, actor=user, verb="edited", detail="cache-xyz")
        assert "cache-xyz" in page(owner_client, self.url(agent))

    def test_an_open_competition_is_offered(self, owner_client, agent):
        visit(owner_client, self.url(agent))
        Competition.objects.create(
            organizer=UserFactory(),
            title="Cached Cup",
            entry_fee=Decimal("0"),
            prize=Decimal("10"),
            closes_at=timezone.now() + timedelta(hours=1),
        )
        assert "Cached Cup" in page(owner_client, self.url(agent))

    def test_viewers_do_not_share_pages(self, owner_client, agent, other_user):
        ListingFactory(agent=agent)
        owner_page = visit(owner_client, self.url(agent))
        assert reverse("agents:agent_delete", args=[agent.pk]) in owner_page
        client = Client()
        client.force_login(other_user)
        assert reverse("agents:agent_delete", args=[agent.pk]) not in page(client, self.url(agent))

    def test_access_follows_the_rental_and_the_listing(self, agent, other_user):
        rental = rent(agent, other_user)
        client = Client()
        client.force_login(other_user)
        visit(client, self.url(agent))
        Rental.objects.filter(pk=rental.pk).update(expires_at=timezone.now() - timedelta(1))
        assert client.get(self.url(agent)).status_code == 404

    def test_visitors_lose_an_agent_that_is_no_longer_listed(self, agent):
        listing = ListingFactory(agent=agent)
        client = Client()
        visit(client, self.url(agent))
        Listing.objects.filter(pk=listing.pk).update(status="cancelled")
        assert client.get(self.url(agent)).status_code in (302, 404)

    def test_a_page_with_flash_messages_is_rendered_not_kept(self, owner_client, agent):
        visit(owner_client, self.url(agent))
        owner_client.post(reverse("agents:agent_stop", args=[agent.pk]))  # flashes "stopped"
        response = owner_client.get(self.url(agent))
        assert getattr(response, "page_cache", None) != "hit"
        assert "is stopped" in response.content.decode()


# --- the dashboard ------------------------------------------------------------------------


@postgres_only
class TestDashboard:
    url = reverse("agents:dashboard")

    def test_agents_stats_runs_rentals_and_the_feed_show(self, owner_client, agent, user):
        visit(owner_client, self.url)
        AgentFactory(owner=user, name="Brand New Agent")
        assert "Brand New Agent" in page(owner_client, self.url)
        AgentStats.objects.filter(agent=agent).update(level=F("level") + 7)
        assert ">8<" in page(owner_client, self.url).replace(" ", "")
        run = RunFactory(
            agent=agent, conversation__agent=agent, conversation__user=user, status="queued"
        )
        assert reverse("agents:run_detail", args=[run.pk]) in page(owner_client, self.url)
        other = UserFactory(username="followed_one")
        Follow.objects.create(follower=user, followee=other)
        FeedEvent.objects.create(actor=other, verb="published_agent", agent_id=agent.pk)
        assert "followed_one" in page(owner_client, self.url)

    def test_a_rented_agent_leaves_when_the_rental_ends(self, owner_client, user):
        rented = AgentFactory(name="Rented For A While")
        rental = rent(rented, user)
        assert "Rented For A While" in visit(owner_client, self.url)
        Rental.objects.filter(pk=rental.pk).update(expires_at=timezone.now() - timedelta(1))
        assert "Rented For A While" not in page(owner_client, self.url)

    def test_later_pages_are_rendered(self, owner_client, user):
        AgentFactory.create_batch(30, owner=user)
        url = self.url + "?page=2"
        owner_client.get(url)
        assert getattr(owner_client.get(url), "page_cache", None) is None


# --- elsewhere ----------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the SQLite side")
def test_sqlite_pages_are_never_kept(owner_client, agent):
    url = reverse("agents:agent_detail", args=[agent.pk])
    owner_client.get(url)
    assert getattr(owner_client.get(url), "page_cache", None) is None
    assert connection.vendor != "postgresql"


# --- the access rule in SQL ---------------------------------------------------------------


@postgres_only
def test_visible_sql_selects_what_visible_to_selects(user, other_user):
    """agents.models.visible_sql, which page fingerprints select by, against the rule
    itself (AgentQuerySet.visible_to) for owners, renters, collaborators, strangers and
    visitors."""
    from django.contrib.auth.models import AnonymousUser

    from agents.models import visible_sql

    mine = AgentFactory(owner=user)
    public = AgentFactory(visibility="public")
    listed = ListingFactory().agent
    shared = AgentFactory()
    Collaborator.objects.create(agent=shared, user=other_user, role="viewer")
    rented = AgentFactory()
    rent(rented, other_user)
    expired = AgentFactory()
    Rental.objects.filter(pk=rent(expired, other_user).pk).update(
        expires_at=timezone.now() - timedelta(1)
    )
    AgentFactory()  # private, nobody's business
    stranger = UserFactory()
    seen = {}
    for name, viewer in [
        ("owner", user),
        ("renter", other_user),
        ("stranger", stranger),
        ("visitor", AnonymousUser()),
    ]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT a.id FROM agents_agent a WHERE {visible_sql('a')}",
                {"viewer": viewer.pk, "now": timezone.now()},
            )
            seen[name] = {row[0] for row in cursor.fetchall()}
        assert seen[name] == set(Agent.objects.visible_to(viewer).values_list("pk", flat=True))
    assert seen["renter"] == {public.pk, listed.pk, shared.pk, rented.pk}
    assert seen["owner"] == {mine.pk, public.pk, listed.pk}
    assert seen["visitor"] == {listed.pk}


# --- the API's list -------------------------------------------------------------------------


@postgres_only
class TestApiList:
    def test_kept_and_changes_show(self, api_client, user):
        agent = AgentFactory(owner=user, name="Api Listed")
        first = api_client.get("/api/v1/agents")
        assert first.status_code == 200
        second = api_client.get("/api/v1/agents")
        assert second.page_cache == "hit"
        assert second.json() == first.json()
        assert second.json()["count"] == 1
        AgentStats.objects.create(agent=agent, total_requests=5)
        assert api_client.get("/api/v1/agents").json()["items"][0]["stats"]["total_requests"] == 5
        AgentFactory(forked_from=agent)
        assert api_client.get("/api/v1/agents").json()["items"][0]["forks_count"] == 1
        AgentFactory(owner=user, name="Second Api Agent")
        body = api_client.get("/api/v1/agents").json()
        assert body["count"] == 2
        assert body["items"][0]["name"] == "Second Api Agent"

    def test_a_revoked_token_is_refused_at_once(self, api_client, user):
        from accounts.models import ApiToken

        AgentFactory(owner=user)
        api_client.get("/api/v1/agents")
        assert api_client.get("/api/v1/agents").page_cache == "hit"
        ApiToken.objects.filter(user=user).delete()
        assert api_client.get("/api/v1/agents").status_code == 401

    def test_pages_and_filters(self, api_client, user):
        AgentFactory.create_batch(3, owner=user)
        for query in ("?limit=2", "?limit=2&offset=2"):
            api_client.get("/api/v1/agents" + query)
            assert api_client.get("/api/v1/agents" + query).page_cache == "hit"
        assert len(api_client.get("/api/v1/agents?limit=2&offset=2").json()["items"]) == 1
        api_client.get("/api/v1/agents?state=running")
        assert getattr(api_client.get("/api/v1/agents?state=running"), "page_cache", None) is None
