"""The Agents part of docs/API.md: lifecycle, validation and access (no execution here)."""

import pytest

from agents import signals
from agents.models import Agent, AgentActivity, Run
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Calculator",
    "description": "Does sums.",
    "tools": [],
    "model": "openai:echo",
    "allowed_imports": ["math"],
    "metadata": {"team": "research"},
}


@pytest.fixture
def agent(user):
    return AgentFactory(owner=user, state="created")


@pytest.fixture
def stranger_api(make_api_client):
    return make_api_client(UserFactory())


def test_create_returns_201_with_the_agent_object(api_client, user):
    response = api_client.post("/api/v1/agents", VALID)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "created"
    assert body["owner"] == user.username
    assert body["allowed_imports"] == ["math"]
    assert body["metadata"] == {"team": "research"}
    assert set(body["stats"]) >= {
        "total_requests",
        "successful_requests",
        "failed_requests",
        "average_response_time",
        "rating",
        "total_ratings",
        "earnings",
        "tasks_completed",
        "level",
        "experience_points",
        "achievements",
    }
    assert AgentActivity.objects.filter(agent_id=body["id"], verb="created").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "at least 1 character"),
        ("name", "x" * 101, "at most 100 characters"),
        ("description", "x" * 2001, "at most 2000 characters"),
        ("model", "nope:model", "Unknown model provider"),
        ("model", "openai:http://evil.example/v1", "not a model id"),
        ("tools", ["no_such_tool"], "no_such_tool"),
        ("allowed_imports", ["os"], "os"),
        ("allowed_imports", ["subprocess"], "subprocess"),
        ("metadata", {"blob": "x" * 17000}, "16 KB"),
        ("metadata", ["not", "an", "object"], "dict"),
    ],
)
def test_invalid_config_is_422_naming_the_field(api_client, field, value, message):
    response = api_client.post("/api/v1/agents", {**VALID, field: value})

    assert response.status_code == 422, response.content
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and message in e["msg"] for e in errors), errors
    assert not Agent.objects.exists()


def test_list_shows_owned_agents_with_filters(api_client, user, other_user):
    running = AgentFactory(owner=user, state="running")
    AgentFactory(owner=user, state="stopped")
    AgentFactory(owner=other_user)

    everything = api_client.get("/api/v1/agents").json()
    only_running = api_client.get("/api/v1/agents", {"state": "running"}).json()
    not_owned = api_client.get("/api/v1/agents", {"owned": "false"}).json()

    assert everything["count"] == 2
    assert [a["id"] for a in only_running["items"]] == [running.pk]
    assert not_owned == {"items": [], "count": 0}


def test_list_is_paginated_within_a_query_budget(api_client, user, django_assert_max_num_queries):
    AgentFactory.create_batch(25, owner=user)

    with django_assert_max_num_queries(6):
        page = api_client.get("/api/v1/agents", {"limit": 10, "offset": 20}).json()

    assert page["count"] == 25
    assert len(page["items"]) == 5
    assert api_client.get("/api/v1/agents", {"limit": 1000}).status_code == 422


def test_update_replaces_config_and_logs_it(api_client, agent):
    response = api_client.put(f"/api/v1/agents/{agent.pk}", {**VALID, "name": "Renamed"})

    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert agent.activities.filter(verb="updated").exists()


def test_start_and_stop_are_idempotent(api_client, agent):
    for _ in range(2):
        response = api_client.post(f"/api/v1/agents/{agent.pk}/start")
        assert response.status_code == 200
        assert response.json()["state"] == "running"
    for _ in range(2):
        response = api_client.post(f"/api/v1/agents/{agent.pk}/stop")
        assert response.status_code == 200
        assert response.json()["state"] == "stopped"
    verbs = list(agent.activities.order_by("created_at", "id").values_list("verb", flat=True))
    assert verbs == ["started", "stopped"]


def test_start_with_a_config_that_no_longer_validates_is_409_and_error_state(api_client, agent):
    Agent.objects.filter(pk=agent.pk).update(tools=["vanished_tool"])

    response = api_client.post(f"/api/v1/agents/{agent.pk}/start")

    assert response.status_code == 409
    assert "vanished_tool" in response.json()["detail"]
    agent.refresh_from_db()
    assert agent.state == "error"
    assert "vanished_tool" in agent.state_reason
    assert agent.activities.filter(verb="error").exists()


def test_stop_cancels_runs_in_flight(api_client, agent):
    queued = RunFactory(conversation__agent=agent, status="queued", output=None)
    running = RunFactory(conversation__agent=agent, status="running", output=None)

    api_client.post(f"/api/v1/agents/{agent.pk}/stop")

    assert {r.status for r in Run.objects.filter(pk__in=[queued.pk, running.pk])} == {"cancelled"}


def test_delete_is_204_and_removes_the_agent(api_client, agent):
    response = api_client.delete(f"/api/v1/agents/{agent.pk}")

    assert response.status_code == 204
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_delete_is_refused_while_an_app_above_blocks_it(api_client, agent):
    def blocker(sender, **kwargs):
        return ["bob rents it until 2026-12-01."]

    signals.agent_delete_check.connect(blocker, dispatch_uid="test_blocker")
    try:
        response = api_client.delete(f"/api/v1/agents/{agent.pk}")
    finally:
        signals.agent_delete_check.disconnect(dispatch_uid="test_blocker")

    assert response.status_code == 409
    assert "bob rents it" in response.json()["detail"]
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_chat_on_a_stopped_agent_is_409(api_client, agent):
    response = api_client.post(f"/api/v1/agents/{agent.pk}/chat", {"message": "hi"})

    assert response.status_code == 409
    assert "not running" in response.json()["detail"]


def test_chat_queues_a_run_and_returns_202(api_client, user):
    agent = AgentFactory(owner=user, state="running")

    response = api_client.post(f"/api/v1/agents/{agent.pk}/chat", {"message": "hello"})

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["message"] == "hello"
    assert body["steps"] == []
    assert api_client.get(f"/api/v1/runs/{body['id']}").json()["id"] == body["id"]
    conversations = api_client.get(f"/api/v1/agents/{agent.pk}/conversations").json()
    assert conversations["items"][0]["id"] == body["conversation_id"]
    assert conversations["items"][0]["runs"] == 1


@pytest.mark.parametrize("message", ["", "x" * 20001])
def test_chat_message_length_is_validated(api_client, user, message):
    agent = AgentFactory(owner=user, state="running")

    assert (
        api_client.post(f"/api/v1/agents/{agent.pk}/chat", {"message": message}).status_code == 422
    )


def test_chat_in_someone_elses_conversation_is_404(api_client, user, other_user):
    agent = AgentFactory(owner=user, state="running")
    theirs = RunFactory(conversation__agent=agent, conversation__user=other_user).conversation

    response = api_client.post(
        f"/api/v1/agents/{agent.pk}/chat", {"message": "hi", "conversation_id": theirs.pk}
    )

    assert response.status_code == 404


def test_cancel_a_queued_run(api_client, user):
    run = RunFactory(conversation__agent__owner=user, status="queued", output=None)

    response = api_client.post(f"/api/v1/runs/{run.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"


AGENT_ENDPOINTS = [
    ("get", "/api/v1/agents/{id}"),
    ("put", "/api/v1/agents/{id}"),
    ("delete", "/api/v1/agents/{id}"),
    ("post", "/api/v1/agents/{id}/start"),
    ("post", "/api/v1/agents/{id}/stop"),
    ("post", "/api/v1/agents/{id}/chat"),
    ("get", "/api/v1/agents/{id}/conversations"),
    ("get", "/api/v1/agents/{id}/activity"),
]


@pytest.mark.parametrize(("method", "path"), AGENT_ENDPOINTS)
def test_stranger_gets_404_on_every_agent_endpoint(stranger_api, agent, method, path):
    url = path.format(id=agent.pk)
    body = {"message": "hi"} if path.endswith("/chat") else VALID
    response = getattr(stranger_api, method)(url, *([body] if method in ("post", "put") else []))

    assert response.status_code == 404, (method, url, response.content)
    assert Agent.objects.get(pk=agent.pk).state == "created"


@pytest.mark.parametrize("path", ["/api/v1/runs/{id}", "/api/v1/runs/{id}/cancel"])
def test_stranger_gets_404_on_runs(stranger_api, user, path):
    run = RunFactory(conversation__agent__owner=user, status="queued")
    method = "post" if path.endswith("cancel") else "get"

    assert getattr(stranger_api, method)(path.format(id=run.pk)).status_code == 404
    assert Run.objects.get(pk=run.pk).status == "queued"


def test_a_run_is_read_by_who_started_it_not_by_the_agent_owner(api_client, user, make_api_client):
    renter = UserFactory()
    run = RunFactory(conversation__agent__owner=user, conversation__user=renter)

    assert api_client.get(f"/api/v1/runs/{run.pk}").status_code == 404
    assert make_api_client(renter).get(f"/api/v1/runs/{run.pk}").status_code == 200


@pytest.mark.parametrize(("method", "path"), AGENT_ENDPOINTS)
def test_unauthenticated_calls_get_401(client, agent, method, path):
    response = getattr(client, method)(path.format(id=agent.pk))

    assert response.status_code == 401
