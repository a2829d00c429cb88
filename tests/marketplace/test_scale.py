"""With 10,000 listings the browser page and the API list cost a constant number of queries."""

from decimal import Decimal

import pytest

from agents.models import Agent
from gamification.models import AgentStats
from marketplace.models import Listing
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

N = 10_000


def bulk_listings(n: int, sellers: list) -> None:
    agents = Agent.objects.bulk_create(
        Agent(
            owner=sellers[i % len(sellers)],
            name=f"Bulk agent {i}",
            model="openai:echo",
            description="Bulk",
            tools=["web_search"],
            state="running",
        )
        for i in range(n)
    )
    AgentStats.objects.bulk_create(
        AgentStats(agent=agent, rating=(i % 50) / 10, level=1 + i % 9)
        for i, agent in enumerate(agents)
    )
    Listing.objects.bulk_create(
        Listing(
            agent=agent,
            agent_name=agent.name,
            seller=agent.owner,
            listing_type="rent" if i % 2 else "sale",
            rental_days=7 if i % 2 else None,
            price=Decimal(1 + i % 1000),
        )
        for i, agent in enumerate(agents)
    )


def test_marketplace_queries_are_constant_at_10000_listings(
    client, make_api_client, django_assert_max_num_queries
):
    sellers = [UserFactory() for _ in range(20)]
    bulk_listings(N, sellers)
    viewer = UserFactory()
    client.force_login(viewer)
    api = make_api_client(viewer)

    for params in ({}, {"sort": "-rating", "type": "rent"}, {"q": "agent 99", "page": "2"}):
        with django_assert_max_num_queries(5):
            assert client.get("/marketplace/", params).status_code == 200
        with django_assert_max_num_queries(4):
            response = api.get("/api/v1/marketplace", {**params, "limit": 100})
        assert response.status_code in (200, 422)
    assert api.get("/api/v1/marketplace").json()["count"] == N
