"""Site-wide small things: the favicon, the styled error pages (in development too, and
saying so when the user sold the agent), and a quiet `make run`."""

import logging
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings

from agents import services as agents
from agents.validation import AgentConfig
from marketplace.services import listing_create, listing_purchase
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

TECHNICAL = "Using the URLconf defined in"  # Django's DEBUG 404 page


def test_favicon_is_linked_and_favicon_ico_is_not_a_404(client):
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/account/login/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    with open(finders.find("favicon.svg")) as svg:
        assert svg.read().startswith("<svg")


@pytest.mark.parametrize("debug", [True, False])
def test_missing_agent_gets_the_styled_404_page(user_client, debug):
    with override_settings(DEBUG=debug):
        response = user_client.get("/dashboard/agents/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "404 · Not found" in html
    assert TECHNICAL not in html
    assert ("DEBUG: Agent not found." in html) is debug


@override_settings(DEBUG=True)
def test_in_development_unknown_urls_and_views_own_404s_are_styled_too(user_client, user):
    response = user_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "404 · Not found" in response.content.decode()
    assert "DEBUG: No URL pattern matches /no/such/page/." in response.content.decode()
    agent = AgentFactory(owner=user)
    response = user_client.get(f"/dashboard/agents/{agent.pk}/chat/?c=424242")  # Http404
    assert response.status_code == 404
    assert "404 · Not found" in response.content.decode()
    assert TECHNICAL not in response.content.decode()


@pytest.mark.parametrize("debug", [True, False])
def test_forbidden_gets_the_styled_403_page_with_the_reason(client, debug):
    listed = AgentFactory()
    listing_create(agent=listed, seller=listed.owner, listing_type="sale", price=Decimal("5"))
    client.force_login(UserFactory())
    with override_settings(DEBUG=debug):
        response = client.get(f"/dashboard/agents/{listed.pk}/edit/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "403 · Not allowed" in html
    assert "Only the agent&#x27;s owner can do this." in html
    assert "You sold this agent" not in html


@override_settings(DEBUG=True)
def test_the_api_keeps_its_json_errors(api_client):
    response = api_client.get("/api/v1/agents/999999")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert api_client.get("/api/v1/no-such-route").status_code == 404


@pytest.fixture
def sold(client):
    """An agent its seller sold (a sale listing, bought): the seller is logged in."""
    seller, buyer = UserFactory(username="seller"), UserFactory(username="buyer")
    agent = agents.agent_create(owner=seller, config=AgentConfig(name="Oracle", model="openai:x"))
    listing = listing_create(agent=agent, seller=seller, listing_type="sale", price=Decimal("9"))
    listing_purchase(listing=listing, buyer=buyer)
    client.force_login(seller)
    return agent, buyer


def test_seller_of_an_agent_is_told_they_sold_it_instead_of_not_found(client, sold):
    agent, _buyer = sold
    for url in (f"/dashboard/agents/{agent.pk}/", f"/dashboard/agents/{agent.pk}/chat/"):
        response = client.get(url)
        assert response.status_code == 404
        assert "You sold this agent" in response.content.decode()
        assert "“Oracle” belongs to its buyer now" in response.content.decode()


def test_seller_of_a_relisted_agent_is_told_they_sold_it_instead_of_forbidden(client, sold):
    agent, buyer = sold
    agent.refresh_from_db()
    listing_create(agent=agent, seller=buyer, listing_type="sale", price=Decimal("20"))
    response = client.get(f"/dashboard/agents/{agent.pk}/edit/")
    assert response.status_code == 403
    assert "You sold this agent" in response.content.decode()
    assert client.get(f"/dashboard/agents/{agent.pk}/").status_code == 200  # listed: visible


def test_someone_who_only_rented_it_out_is_not_told_they_sold_it(client):
    owner = UserFactory()
    other = AgentFactory()  # not theirs, never sold by them
    client.force_login(owner)
    response = client.get(f"/dashboard/agents/{other.pk}/")
    assert response.status_code == 404
    assert "You sold this agent" not in response.content.decode()


@pytest.mark.parametrize("name", ["django_tasks", "django_tasks_db", "django.server"])
def test_make_run_keeps_per_task_and_per_request_lines_quiet(name):
    # `make run` prints the demo users and password; a line per task or polled request
    # would push them off the screen. Warnings and errors still show.
    logger = logging.getLogger(name)
    assert not logger.isEnabledFor(logging.INFO)
    assert logger.isEnabledFor(logging.WARNING)
