"""Explore and the feed stay a constant number of queries as rows grow: 10 agents and
events, then 10,000 (issue 17)."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from social.models import FeedEvent, Follow
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def grow(owner, star, start: int, stop: int) -> None:
    agents = Agent.objects.bulk_create(
        Agent(owner=owner, name=f"Public {n}", model="openai:x", visibility="public")
        for n in range(start, stop)
    )
    Agent.objects.bulk_create(
        Agent(owner=owner, name=f"Fork {n}", model="openai:x", forked_from=agent)
        for n, agent in enumerate(agents[:: max(1, len(agents) // 100)])
    )
    FeedEvent.objects.bulk_create(
        FeedEvent(actor=star, verb="published_agent", agent_id=agent.pk) for agent in agents
    )


def queries(client: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), response.content.decode()


def test_explore_and_feed_keep_their_queries_from_10_to_10000_rows():
    me, star = UserFactory(), UserFactory()
    Follow.objects.create(follower=me, followee=star)
    client = Client()
    assert client.login(username=me.username, password=TEST_PASSWORD)
    grow(star, star, 0, 10)
    client.get("/explore/")  # the session's first use
    few = {url: queries(client, url)[0] for url in ("/explore/", "/feed/", "/dashboard/")}

    grow(star, star, 10, 10_000)
    many = {url: queries(client, url) for url in ("/explore/", "/feed/", "/dashboard/")}

    assert {url: count for url, (count, _) in many.items()} == few
    assert "Public 9999" in many["/explore/"][1]  # newest first, the page shows the latest
    assert "page 1 of" in many["/feed/"][1]
