"""Runs and conversations belong to whoever started them (docs/API.md, Runs): nobody else
reads them, not the agent's owner, not a later buyer; deleting the agent keeps other users'
history."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents import services
from agents.models import Conversation, Run
from marketplace.models import Rental
from marketplace.services import listing_create, listing_purchase
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db


def sell(agent, buyer):
    listing = listing_create(agent=agent, seller=agent.owner, listing_type="sale", price=10)
    listing_purchase(listing=listing, buyer=buyer)
    agent.refresh_from_db()
    return agent


def rent(agent, renter):
    listing = listing_create(
        agent=agent, seller=agent.owner, listing_type="rent", price=Decimal(5), rental_days=1
    )
    listing_purchase(listing=listing, buyer=renter)


def test_a_run_keeps_the_agent_name_it_ran_under():
    agent = AgentFactory(name="Before")
    run = services.run_start(agent=agent, user=agent.owner, message="hi")

    agent.name = "After"
    agent.save()

    assert Run.objects.get(pk=run.pk).agent_name == "Before"


def test_the_sellers_runs_survive_when_the_buyer_deletes_the_agent(client, make_api_client):
    seller, buyer = UserFactory(), UserFactory()
    agent = AgentFactory(owner=seller, name="Oracle")
    theirs = RunFactory(conversation__agent=agent, conversation__user=seller)
    agent = sell(agent, buyer)
    mine = RunFactory(conversation__agent=agent, conversation__user=buyer)

    services.agent_delete(agent=agent, by=buyer)

    assert not Run.objects.filter(pk=mine.pk).exists()  # the deleter's own history goes
    kept = Run.objects.get(pk=theirs.pk)
    assert kept.agent_id is None and kept.agent_name == "Oracle"
    response = make_api_client(seller).get(f"/api/v1/runs/{theirs.pk}")
    assert response.status_code == 200
    assert response.json()["agent_id"] is None and response.json()["agent_name"] == "Oracle"
    client.force_login(seller)
    page = client.get(f"/dashboard/runs/{theirs.pk}/")
    assert page.status_code == 200 and "Oracle" in page.content.decode()
    listed = client.get("/dashboard/runs/").content.decode()
    assert f"#{theirs.pk}" in listed and "deleted" in listed


def test_after_a_sale_the_new_owner_does_not_read_the_sellers_runs(client, make_api_client):
    seller, buyer = UserFactory(), UserFactory()
    agent = AgentFactory(owner=seller)
    run = RunFactory(
        conversation__agent=agent, conversation__user=seller, message="seller secret 7731"
    )
    agent = sell(agent, buyer)

    assert make_api_client(buyer).get(f"/api/v1/runs/{run.pk}").status_code == 404
    assert make_api_client(seller).get(f"/api/v1/runs/{run.pk}").status_code == 200
    client.force_login(buyer)
    assert client.get(f"/dashboard/runs/{run.pk}/").status_code == 404
    assert "seller secret 7731" not in client.get(f"/dashboard/agents/{agent.pk}/").content.decode()
    conversations = make_api_client(buyer).get(f"/api/v1/agents/{agent.pk}/conversations")
    assert conversations.json()["count"] == 0


def test_the_owner_sees_renters_runs_only_as_stats(client, make_api_client):
    owner, renter = UserFactory(), UserFactory()
    agent = AgentFactory(owner=owner)
    rent(agent, renter)
    run = services.run_start(agent=agent, user=renter, message="renter secret 4410")

    assert make_api_client(owner).get(f"/api/v1/runs/{run.pk}").status_code == 404
    assert make_api_client(owner).post(f"/api/v1/runs/{run.pk}/cancel").status_code == 404
    client.force_login(owner)
    assert client.get(f"/dashboard/runs/{run.pk}/").status_code == 404
    assert "renter secret 4410" not in client.get(f"/dashboard/agents/{agent.pk}/").content.decode()
    # Not in the owner's "in flight" strip either: it links to the run.
    assert f"#{run.pk}" not in client.get("/dashboard/").content.decode()


def test_deleting_an_agent_cancels_its_turns_in_flight_and_keeps_renters_history():
    owner, renter = UserFactory(), UserFactory()
    agent = AgentFactory(owner=owner)
    rent(agent, renter)
    run = services.run_start(agent=agent, user=renter, message="still mine")
    # Deleting waits for the rental to end; the renter's turn is still queued.
    Rental.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    services.agent_delete(agent=agent, by=owner)

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED and "deleted" in run.error
    assert run.agent_id is None and Conversation.objects.filter(user=renter).exists()
