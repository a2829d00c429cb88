"""Social (docs/API.md "Social"): public agents, forks, collaborators, share links, follows
and the feed, through the API, each rule with the statuses of the contract."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent
from marketplace.services import listing_create, listing_purchase
from social.models import Collaborator, FeedEvent, ShareLink
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db

AGENT_JSON = {"name": "Echo", "model": "openai:echo"}


# --- public agents -----------------------------------------------------------------------------


def test_agents_are_private_by_default_and_public_on_request(api_for):
    owner = UserFactory()
    api = api_for(owner)
    private = api.post("/api/v1/agents", AGENT_JSON).json()
    public = api.post("/api/v1/agents", {**AGENT_JSON, "visibility": "public"}).json()
    assert private["visibility"] == "private"
    assert public["visibility"] == "public"
    assert private["forked_from"] is None and private["forks_count"] == 0

    stranger = api_for(UserFactory())
    assert stranger.get(f"/api/v1/agents/{private['id']}").status_code == 404
    assert stranger.get(f"/api/v1/agents/{public['id']}").status_code == 200
    listed = stranger.get("/api/v1/agents", {"scope": "public"}).json()
    assert [agent["id"] for agent in listed["items"]] == [public["id"]]
    # Not among the stranger's own agents, and not usable.
    assert stranger.get("/api/v1/agents").json()["items"] == []
    chat = stranger.post(f"/api/v1/agents/{public['id']}/chat", {"message": "hi"})
    assert chat.status_code == 403
    assert stranger.put(f"/api/v1/agents/{public['id']}", AGENT_JSON).status_code == 403


def test_visibility_other_than_private_or_public_is_422(api_for):
    api = api_for(UserFactory())
    response = api.post("/api/v1/agents", {**AGENT_JSON, "visibility": "friends"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_making_an_agent_public_and_private_again(api_for):
    owner = UserFactory()
    agent = AgentFactory(owner=owner)
    api, stranger = api_for(owner), api_for(UserFactory())
    body = {**AGENT_JSON, "visibility": "public"}
    assert api.put(f"/api/v1/agents/{agent.pk}", body).json()["visibility"] == "public"
    assert stranger.get(f"/api/v1/agents/{agent.pk}").status_code == 200
    # An update without visibility keeps it.
    assert api.put(f"/api/v1/agents/{agent.pk}", AGENT_JSON).json()["visibility"] == "public"
    api.put(f"/api/v1/agents/{agent.pk}", {**AGENT_JSON, "visibility": "private"})
    assert stranger.get(f"/api/v1/agents/{agent.pk}").status_code == 404


def test_public_agents_are_not_shown_to_visitors(client):
    agent = AgentFactory(visibility="public")
    assert client.get(f"/api/v1/agents/{agent.pk}").status_code == 401
    page = client.get(f"/dashboard/agents/{agent.pk}/")
    assert page.status_code == 302  # to log in


# --- forks -------------------------------------------------------------------------------------


def test_fork_a_public_agent(api_for):
    owner, forker = UserFactory(), UserFactory()
    parent = AgentFactory(
        owner=owner, visibility="public", tools=[], metadata={"instructions": "Be brief."}
    )
    response = api_for(forker).post(f"/api/v1/agents/{parent.pk}/fork", {})
    assert response.status_code == 201, response.content
    fork = response.json()
    assert fork["owner"] == forker.username
    assert fork["state"] == "created"
    assert fork["visibility"] == "private"
    assert fork["metadata"] == {"instructions": "Be brief."}
    assert fork["model"] == parent.model
    assert fork["forked_from"] == {"id": parent.pk, "name": parent.name, "owner": owner.username}
    assert api_for(owner).get(f"/api/v1/agents/{parent.pk}").json()["forks_count"] == 1


def test_fork_with_a_name_and_fork_of_a_fork_keeps_its_own_parent(api_for):
    first, second = UserFactory(), UserFactory()
    parent = AgentFactory(visibility="public")
    child = api_for(first).post(f"/api/v1/agents/{parent.pk}/fork", {"name": "Mine"}).json()
    assert child["name"] == "Mine"
    api_for(first).put(f"/api/v1/agents/{child['id']}", {**AGENT_JSON, "visibility": "public"})
    grandchild = api_for(second).post(f"/api/v1/agents/{child['id']}/fork", {}).json()
    assert grandchild["forked_from"]["id"] == child["id"]
    assert Agent.objects.get(pk=parent.pk).forks.count() == 1


def test_forked_from_survives_the_parents_deletion(api_for):
    owner, forker = UserFactory(), UserFactory()
    parent = AgentFactory(owner=owner, visibility="public", name="Original")
    fork = api_for(forker).post(f"/api/v1/agents/{parent.pk}/fork", {}).json()
    assert api_for(owner).delete(f"/api/v1/agents/{parent.pk}").status_code == 204
    again = api_for(forker).get(f"/api/v1/agents/{fork['id']}").json()
    assert again["forked_from"] == {"id": None, "name": "Original", "owner": owner.username}


def test_forking_someone_elses_private_agent_is_404(api_for):
    agent = AgentFactory()
    response = api_for(UserFactory()).post(f"/api/v1/agents/{agent.pk}/fork", {})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_forking_a_listed_private_agent_is_403(api_for):
    owner = UserFactory()
    agent = AgentFactory(owner=owner)
    listing_create(agent=agent, seller=owner, listing_type="sale", price=Decimal("10"))
    response = api_for(UserFactory()).post(f"/api/v1/agents/{agent.pk}/fork", {})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_fork_name_is_validated(api_for):
    agent = AgentFactory(visibility="public")
    api = api_for(UserFactory())
    assert api.post(f"/api/v1/agents/{agent.pk}/fork", {"name": ""}).status_code == 422
    assert api.post(f"/api/v1/agents/{agent.pk}/fork", {"other": 1}).status_code == 422
    assert api.post(f"/api/v1/agents/{agent.pk}/fork", {"name": "a\u202eb"}).status_code == 422


def test_forks_count_lists_without_a_query_per_agent(api_for):
    owner = UserFactory()
    api = api_for(owner)
    for _ in range(2):
        AgentFactory(owner=owner)
    api.get("/api/v1/agents")  # the token's first use writes its last_used once
    # Two pages never asked for before, so both are built (not served by the page cache).
    with CaptureQueriesContext(connection) as few:
        assert api.get("/api/v1/agents?limit=99").status_code == 200
    for _ in range(5):
        AgentFactory(forked_from=AgentFactory(owner=owner), owner=owner)
    with CaptureQueriesContext(connection) as many:
        items = api.get("/api/v1/agents?limit=100").json()["items"]
    assert len(many.captured_queries) == len(few.captured_queries)
    assert sorted(agent["forks_count"] for agent in items) == [0] * 7 + [1] * 5


# --- collaborators -----------------------------------------------------------------------------


@pytest.fixture
def team(api_for):
    owner, editor, user = UserFactory(), UserFactory(), UserFactory()
    agent = AgentFactory(owner=owner, state="running")
    api = api_for(owner)
    assert (
        api.post(
            f"/api/v1/agents/{agent.pk}/collaborators",
            {"username": editor.username, "role": "editor"},
        ).status_code
        == 201
    )
    assert (
        api.post(
            f"/api/v1/agents/{agent.pk}/collaborators", {"username": user.username, "role": "user"}
        ).status_code
        == 201
    )
    return owner, editor, user, agent


def test_collaborators_list_and_role_change(team, api_for):
    owner, editor, user, agent = team
    api = api_for(owner)
    rows = api.get(f"/api/v1/agents/{agent.pk}/collaborators").json()["items"]
    assert [(row["username"], row["role"]) for row in rows] == [
        (editor.username, "editor"),
        (user.username, "user"),
    ]
    assert all(row["added_at"] for row in rows)
    changed = api.post(
        f"/api/v1/agents/{agent.pk}/collaborators", {"username": user.username, "role": "editor"}
    )
    assert changed.status_code == 200
    assert changed.json()["role"] == "editor"
    gone = api.delete(f"/api/v1/agents/{agent.pk}/collaborators/{user.username}")
    assert gone.status_code == 204
    assert not Collaborator.objects.filter(agent=agent, user=user).exists()
    assert api.get(f"/api/v1/agents/{agent.pk}/collaborators").json()["count"] == 1


def test_collaborator_bad_input(team, api_for):
    owner, _editor, _user, agent = team
    api = api_for(owner)
    path = f"/api/v1/agents/{agent.pk}/collaborators"
    other = UserFactory()
    assert api.post(path, {"username": other.username, "role": "admin"}).status_code == 422
    assert api.post(path, {"username": "nobody-here", "role": "user"}).status_code == 404
    assert api.post(path, {"username": owner.username, "role": "user"}).status_code == 409
    assert api.delete(f"{path}/{other.username}").status_code == 404


@pytest.mark.parametrize("role", ["editor", "user"])
def test_collaborators_cannot_delete_list_fork_or_manage(team, api_for, role):
    owner, editor, user, agent = team
    api = api_for(editor if role == "editor" else user)
    path = f"/api/v1/agents/{agent.pk}"
    assert api.delete(path).status_code == 403
    market = api.post(
        "/api/v1/marketplace", {"agent_id": agent.pk, "listing_type": "sale", "price": "5"}
    )
    assert market.status_code == 403
    assert api.post(f"{path}/fork", {}).status_code == 403
    assert api.get(f"{path}/collaborators").status_code == 403
    third = UserFactory()
    body = {"username": third.username, "role": "user"}
    assert api.post(f"{path}/collaborators", body).status_code == 403
    assert api.delete(f"{path}/collaborators/{owner.username}").status_code == 403
    assert api.get(f"{path}/activity").status_code == 403


def test_editor_may_update_start_stop_and_chat(team, api_for):
    _owner, editor, _user, agent = team
    api = api_for(editor)
    path = f"/api/v1/agents/{agent.pk}"
    assert api.put(path, {**AGENT_JSON, "name": "Renamed"}).json()["name"] == "Renamed"
    assert api.post(f"{path}/stop").json()["state"] == "stopped"
    assert api.post(f"{path}/start").json()["state"] == "running"
    assert api.post(f"{path}/chat", {"message": "hi"}).status_code == 202
    # The visibility is the owner's choice.
    public = api.put(path, {**AGENT_JSON, "visibility": "public"})
    assert public.status_code == 403


def test_user_may_chat_only(team, api_for):
    _owner, _editor, user, agent = team
    api = api_for(user)
    path = f"/api/v1/agents/{agent.pk}"
    assert api.post(f"{path}/chat", {"message": "hi"}).status_code == 202
    assert api.put(path, AGENT_JSON).status_code == 403
    assert api.post(f"{path}/start").status_code == 403
    assert api.post(f"{path}/stop").status_code == 403


def test_shared_agents_appear_in_the_collaborators_list(team, api_for):
    _owner, editor, user, agent = team
    for who in (editor, user):
        items = api_for(who).get("/api/v1/agents").json()["items"]
        assert [item["id"] for item in items] == [agent.pk]
        assert api_for(who).get("/api/v1/agents", {"owned": "true"}).json()["items"] == []


def test_collaborators_do_not_read_each_others_runs(team, api_for):
    owner, editor, user, agent = team
    run = RunFactory(conversation__agent=agent, conversation__user=user)
    for who in (owner, editor):
        assert api_for(who).get(f"/api/v1/runs/{run.pk}").status_code == 404


def test_a_sale_removes_every_collaborator(team, api_for):
    owner, editor, user, agent = team
    buyer = UserFactory()
    listing = listing_create(agent=agent, seller=owner, listing_type="sale", price=Decimal("10"))
    listing_purchase(listing=listing, buyer=buyer)
    assert not Collaborator.objects.filter(agent=agent).exists()
    for who in (editor, user):
        assert api_for(who).get(f"/api/v1/agents/{agent.pk}").status_code == 404


def test_a_rental_keeps_collaborators(team):
    owner, _editor, _user, agent = team
    listing = listing_create(
        agent=agent, seller=owner, listing_type="rent", price=Decimal("3"), rental_days=1
    )
    listing_purchase(listing=listing, buyer=UserFactory())
    assert Collaborator.objects.filter(agent=agent).count() == 2


# --- share links -------------------------------------------------------------------------------


def test_share_a_run_then_revoke(api_for, client):
    user = UserFactory()
    run = RunFactory(conversation__user=user, conversation__agent__owner=user)
    api = api_for(user)
    first = api.post(f"/api/v1/runs/{run.pk}/share")
    assert first.status_code == 201
    token = first.json()["token"]
    assert first.json()["url"] == f"/s/{token}/"
    again = api.post(f"/api/v1/runs/{run.pk}/share")
    assert again.status_code == 200 and again.json()["token"] == token

    shared = client.get(f"/api/v1/shared/{token}")  # no authentication
    assert shared.status_code == 200
    assert shared.json()["id"] == run.pk and shared.json()["output"] == "42"

    assert api.delete(f"/api/v1/runs/{run.pk}/share").status_code == 204
    gone = client.get(f"/api/v1/shared/{token}")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"
    # Sharing again makes a new token; the revoked one stays dead.
    new = api.post(f"/api/v1/runs/{run.pk}/share").json()["token"]
    assert new != token
    assert client.get(f"/api/v1/shared/{token}").status_code == 404
    assert client.get(f"/api/v1/shared/{new}").status_code == 200


def test_unknown_token_is_404(client):
    assert client.get("/api/v1/shared/nope").status_code == 404


def test_only_the_runs_starter_shares_it(api_for):
    owner, renter = UserFactory(), UserFactory()
    agent = AgentFactory(owner=owner)
    run = RunFactory(conversation__agent=agent, conversation__user=renter)
    assert api_for(owner).post(f"/api/v1/runs/{run.pk}/share").status_code == 404
    assert api_for(owner).delete(f"/api/v1/runs/{run.pk}/share").status_code == 404
    assert not ShareLink.objects.exists()


def test_tokens_are_long_and_random(api_for):
    user = UserFactory()
    tokens = {
        api_for(user)
        .post(f"/api/v1/runs/{RunFactory(conversation__user=user).pk}/share")
        .json()["token"]
        for _ in range(3)
    }
    assert len(tokens) == 3
    assert all(len(token) >= 43 for token in tokens)


# --- follows, profiles and the feed ------------------------------------------------------------


def test_follow_unfollow_and_profile(api_for):
    me, them = UserFactory(), UserFactory()
    api = api_for(me)
    assert api.post(f"/api/v1/users/{them.username}/follow").status_code == 201
    assert api.post(f"/api/v1/users/{them.username}/follow").status_code == 200
    AgentFactory(owner=them, visibility="public", name="Shown")
    AgentFactory(owner=them, name="Hidden")
    profile = api.get(f"/api/v1/users/{them.username}").json()
    assert profile["username"] == them.username
    assert (profile["followers"], profile["following"]) == (1, 0)
    assert [agent["name"] for agent in profile["public_agents"]] == ["Shown"]
    assert api.get(f"/api/v1/users/{me.username}").json()["following"] == 1
    assert api.delete(f"/api/v1/users/{them.username}/follow").status_code == 204
    assert api.get(f"/api/v1/users/{them.username}").json()["followers"] == 0


def test_follow_bad_input(api_for):
    me = UserFactory()
    api = api_for(me)
    self_follow = api.post(f"/api/v1/users/{me.username}/follow")
    assert self_follow.status_code == 409 and self_follow.json()["code"] == "conflict"
    assert api.post("/api/v1/users/nobody-here/follow").status_code == 404
    assert api.delete("/api/v1/users/nobody-here/follow").status_code == 404
    assert api.get("/api/v1/users/nobody-here").status_code == 404


def test_feed_shows_followed_users_events_newest_first(api_for):
    me, star, other = UserFactory(), UserFactory(), UserFactory()
    api_for(me).post(f"/api/v1/users/{star.username}/follow")
    star_api = api_for(star)
    published = star_api.post("/api/v1/agents", {**AGENT_JSON, "visibility": "public"}).json()
    mine = star_api.post("/api/v1/agents", AGENT_JSON).json()  # private: no event
    forked = star_api.post(f"/api/v1/agents/{AgentFactory(visibility='public').pk}/fork", {})
    listing = listing_create(
        agent=Agent.objects.get(pk=mine["id"]), seller=star, listing_type="sale", price="5"
    )
    listing_purchase(listing=listing, buyer=other)
    api_for(other).post("/api/v1/agents", {**AGENT_JSON, "visibility": "public"})  # not followed

    items = api_for(me).get("/api/v1/feed").json()["items"]
    assert [(item["verb"], item["actor"]) for item in items] == [
        ("sold_agent", star.username),
        ("listed_agent", star.username),
        ("forked_agent", star.username),
        ("published_agent", star.username),
    ]
    assert items[0]["agent_id"] == mine["id"]
    assert items[1]["listing_id"] == listing.pk
    assert items[2]["agent_id"] == forked.json()["id"]
    assert items[3]["agent_id"] == published["id"]
    assert all(item["competition_id"] is None for item in items)
    assert api_for(other).get("/api/v1/feed").json()["items"] == []


def test_feed_pagination_and_constant_queries(api_for):
    me = UserFactory()
    api = api_for(me)
    stars = [UserFactory() for _ in range(3)]
    for star in stars:
        api.post(f"/api/v1/users/{star.username}/follow")
    api.get("/api/v1/feed")  # the token's first use writes its last_used once

    def add(n):
        for i in range(n):
            FeedEvent.objects.create(actor=stars[i % 3], verb="published_agent", agent_id=i)

    add(3)
    with CaptureQueriesContext(connection) as few:
        assert api.get("/api/v1/feed").json()["count"] == 3
    add(40)
    with CaptureQueriesContext(connection) as many:
        page = api.get("/api/v1/feed", {"limit": 20, "offset": 20}).json()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert page["count"] == 43 and len(page["items"]) == 20
    ids = [item["id"] for item in api.get("/api/v1/feed", {"limit": 100}).json()["items"]]
    assert ids == sorted(ids, reverse=True)
