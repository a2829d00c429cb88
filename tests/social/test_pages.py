"""Social pages: Explore, profiles with follow buttons, the feed, and the agent page's and
run card's social panels (fork, collaborators, share links)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from social.models import Collaborator, FeedEvent, Follow, ShareLink
from social.services import collaborator_set, share_create
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def me(client):
    user = UserFactory()
    client.force_login(user)
    return user


def test_explore_lists_public_agents_only(client, me):
    AgentFactory(visibility="public", name="Shown agent")
    AgentFactory(name="Hidden agent")
    html = client.get("/explore/").content.decode()
    assert "Shown agent" in html and "Hidden agent" not in html


def test_explore_needs_a_login(client):
    assert client.get("/explore/").status_code == 302


def test_profile_follow_and_unfollow(client, me):
    them = UserFactory()
    AgentFactory(owner=them, visibility="public", name="Their public one")
    page = client.get(f"/u/{them.username}/")
    assert page.status_code == 200
    assert "Their public one" in page.content.decode()
    assert client.post(f"/u/{them.username}/follow/").status_code == 302
    assert Follow.objects.filter(follower=me, followee=them).exists()
    assert "Unfollow" in client.get(f"/u/{them.username}/").content.decode()
    client.post(f"/u/{them.username}/unfollow/")
    assert not Follow.objects.exists()
    assert client.get("/u/nobody-here/").status_code == 404


def test_following_oneself_on_the_page_is_a_message(client, me):
    response = client.post(f"/u/{me.username}/follow/", follow=True)
    assert "You cannot follow yourself." in response.content.decode()
    assert not Follow.objects.exists()


def test_feed_page_constant_queries(client, me):
    star = UserFactory()
    Follow.objects.create(follower=me, followee=star)
    FeedEvent.objects.create(actor=star, verb="published_agent", agent_id=1)
    client.get("/feed/")
    with CaptureQueriesContext(connection) as few:
        client.get("/feed/")
    for i in range(30):
        FeedEvent.objects.create(actor=star, verb="listed_agent", agent_id=i, listing_id=i)
    with CaptureQueriesContext(connection) as many:
        html = client.get("/feed/").content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert "listed" in html and "page 1 of 2" in html


def test_fork_button_forks_a_public_agent(client, me):
    parent = AgentFactory(visibility="public")
    assert "Fork" in client.get(f"/dashboard/agents/{parent.pk}/").content.decode()
    response = client.post(f"/social/agents/{parent.pk}/fork/")
    fork = Agent.objects.get(owner=me)
    assert response["Location"] == f"/dashboard/agents/{fork.pk}/"
    assert fork.forked_from == parent
    assert "Forked from" in client.get(response["Location"]).content.decode()


def test_fork_page_refuses_someone_elses_private_agent(client, me):
    agent = AgentFactory()
    assert client.post(f"/social/agents/{agent.pk}/fork/").status_code == 404


def test_owner_manages_collaborators_on_the_agent_page(client, me):
    agent = AgentFactory(owner=me)
    friend = UserFactory()
    client.post(
        f"/social/agents/{agent.pk}/collaborators/",
        {"username": friend.username, "role": "editor"},
    )
    assert Collaborator.objects.get(agent=agent).role == "editor"
    assert friend.username in client.get(f"/dashboard/agents/{agent.pk}/").content.decode()
    wrong = client.post(
        f"/social/agents/{agent.pk}/collaborators/",
        {"username": friend.username, "role": "admin"},
        follow=True,
    )
    assert "The role is editor or user." in wrong.content.decode()
    client.post(f"/social/agents/{agent.pk}/collaborators/{friend.username}/remove/")
    assert not Collaborator.objects.exists()


def test_an_editor_cannot_manage_collaborators(client, me):
    owner = UserFactory()
    agent = AgentFactory(owner=owner)
    collaborator_set(agent=agent, by=owner, username=me.username, role="editor")
    other = UserFactory()
    response = client.post(
        f"/social/agents/{agent.pk}/collaborators/", {"username": other.username, "role": "user"}
    )
    assert response.status_code == 403
    page = client.get(f"/dashboard/agents/{agent.pk}/").content.decode()
    assert "Add or change" not in page


def test_share_and_revoke_from_the_run_page(client, me):
    run = RunFactory(conversation__user=me, conversation__agent__owner=me)
    page = client.get(f"/dashboard/runs/{run.pk}/").content.decode()
    assert "Share" in page
    client.post(f"/social/runs/{run.pk}/share/")
    link = ShareLink.objects.get(run=run)
    assert f"/s/{link.token}/" in client.get(f"/dashboard/runs/{run.pk}/").content.decode()
    client.post(f"/social/runs/{run.pk}/unshare/")
    assert client.get(f"/s/{link.token}/").status_code == 404


def test_others_cannot_share_a_run(client, me):
    run = RunFactory()
    assert client.post(f"/social/runs/{run.pk}/share/").status_code == 404
    share_create(run=run, by=run.user)
    assert client.post(f"/social/runs/{run.pk}/unshare/").status_code == 404
    assert ShareLink.objects.active().count() == 1
