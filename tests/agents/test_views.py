"""Agents pages: the access triad (owner, renter, stranger) and the htmx pair per view."""

from decimal import Decimal

import pytest

from agents.models import Agent, Run
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(user):
    return AgentFactory(owner=user, state="running", name="Helper")


@pytest.fixture
def renter(agent, user):
    """A user holding an unexpired rental of `agent`; the listing is withdrawn after the
    rental, so the agent is not visible to everyone."""
    from marketplace.services import listing_create, listing_purchase, listing_withdraw

    renter = UserFactory()
    listing = listing_create(
        agent=agent, seller=user, listing_type="rent", price=Decimal("5.00"), rental_days=7
    )
    listing_purchase(listing=listing, buyer=renter)
    listing_withdraw(listing=listing, by=user)
    return renter


@pytest.fixture
def listed(agent, user):
    from marketplace.services import listing_create

    listing_create(agent=agent, seller=user, listing_type="sale", price=Decimal("50.00"))
    return agent


def login(client, user):
    client.force_login(user)
    return client


# --- dashboard ---------------------------------------------------------------------------


def test_dashboard_empty_state_leads_to_create(user_client):
    response = user_client.get("/dashboard/")

    assert b"No agents yet" in response.content
    assert b'href="/dashboard/agents/new/"' in response.content


def test_dashboard_lists_own_and_rented_agents_not_others(client, user, agent, renter):
    AgentFactory(name="Somebody else's")

    owner_page = login(client, user).get("/dashboard/")
    assert b"Helper" in owner_page.content
    assert b"Somebody else" not in owner_page.content
    assert b"Stop" in owner_page.content

    renter_page = login(client, renter).get("/dashboard/")
    assert b"Helper" in renter_page.content
    assert b"rented" in renter_page.content and b"until" in renter_page.content
    assert b"/stop/" not in renter_page.content  # renters cannot stop it


def test_dashboard_query_budget(user_client, user, django_assert_max_num_queries):
    for agent in AgentFactory.create_batch(15, owner=user):
        RunFactory.create_batch(2, conversation__agent=agent)

    with django_assert_max_num_queries(12):
        response = user_client.get("/dashboard/")

    assert response.content.count(b'<tr id="agent-') == 15


def test_dashboard_htmx_polls_only_the_in_flight_strip(user_client, agent):
    RunFactory(conversation__agent=agent, status="running", output=None)

    full = user_client.get("/dashboard/")
    partial = user_client.get(
        "/dashboard/", headers={"HX-Request": "true", "HX-Target": "runs-in-flight"}
    )

    assert b"<html" in full.content and b'hx-trigger="every 2s"' in full.content
    assert b"<html" not in partial.content
    assert partial.content.strip().startswith(b'<section id="runs-in-flight"')
    assert b"every 2s" in partial.content


def test_in_flight_strip_stops_polling_when_nothing_runs(user_client, agent):
    partial = user_client.get(
        "/dashboard/", headers={"HX-Request": "true", "HX-Target": "runs-in-flight"}
    )

    assert b"hx-trigger" not in partial.content


# --- editor --------------------------------------------------------------------------------


def test_create_agent_from_the_editor(user_client, user):
    response = user_client.post(
        "/dashboard/agents/new/",
        {
            "name": "Maths",
            "model": "openai:gpt-4o-mini",
            "allowed_imports": ["math"],
            "metadata": "{}",
        },
    )

    agent = Agent.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/agents/{agent.pk}/"
    assert agent.allowed_imports == ["math"]
    assert agent.state == "created"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("model", "nope:x", b"Unknown model provider"),
        ("metadata", "{broken", b"Not valid JSON"),
        ("metadata", "[1, 2]", b"must be a JSON object"),
        ("name", "", b"This field is required"),
    ],
)
def test_editor_shows_the_same_errors_as_the_api(user_client, field, value, message):
    data = {"name": "X", "model": "openai:gpt-4o-mini", "metadata": "{}", field: value}

    response = user_client.post("/dashboard/agents/new/", data)

    assert response.status_code == 422
    assert message in response.content
    assert not Agent.objects.exists()


def test_editor_lists_tools_with_invalid_ones_not_selectable(user_client):
    from tests.factories import ToolFactory

    ToolFactory(name="good_tool")
    ToolFactory(name="broken_tool", status="invalid", status_reason="imports os")

    page = user_client.get("/dashboard/agents/new/").content.decode()

    assert 'value="good_tool"' in page
    broken = page[page.index('value="broken_tool"') :][:300]
    assert "disabled" in broken
    assert "imports os" in page


def test_edit_access_triad(client, user, agent, renter):
    assert login(client, user).get(f"/dashboard/agents/{agent.pk}/edit/").status_code == 200
    assert login(client, renter).get(f"/dashboard/agents/{agent.pk}/edit/").status_code == 403
    assert (
        login(client, UserFactory()).get(f"/dashboard/agents/{agent.pk}/edit/").status_code == 404
    )


def test_edit_saves_and_logs(user_client, agent):
    response = user_client.post(
        f"/dashboard/agents/{agent.pk}/edit/",
        {"name": "Renamed", "model": "openai:echo", "metadata": '{"a": 1}'},
    )

    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.name, agent.metadata) == ("Renamed", {"a": 1})
    assert agent.activities.filter(verb="updated").exists()


# --- agent page ----------------------------------------------------------------------------


def test_agent_page_access_triad(client, user, agent, renter):
    RunFactory(conversation__agent=agent, message="owner's question")

    owner = login(client, user).get(f"/dashboard/agents/{agent.pk}/")
    assert owner.status_code == 200
    assert b"Activity" in owner.content and b"Delete" in owner.content
    assert b"owner&#x27;s question" in owner.content

    as_renter = login(client, renter).get(f"/dashboard/agents/{agent.pk}/")
    assert as_renter.status_code == 200
    assert b"Delete" not in as_renter.content and b"Activity" not in as_renter.content
    assert b"owner&#x27;s question" not in as_renter.content  # only their own runs
    assert b">Chat<" in as_renter.content

    assert login(client, UserFactory()).get(f"/dashboard/agents/{agent.pk}/").status_code == 404


def test_listed_agent_is_visible_read_only_to_anyone(client, listed):
    page = login(client, UserFactory()).get(f"/dashboard/agents/{listed.pk}/")

    assert page.status_code == 200
    assert b">Chat<" not in page.content and b"Edit" not in page.content


def test_state_reason_is_shown(user_client, user):
    agent = AgentFactory(owner=user, state="error", state_reason="Cannot start: tools: gone")

    assert b"Cannot start: tools: gone" in user_client.get(f"/dashboard/agents/{agent.pk}/").content


# --- start / stop --------------------------------------------------------------------------


def test_start_stop_redirect_without_js(user_client, agent):
    response = user_client.post(f"/dashboard/agents/{agent.pk}/stop/")

    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/agents/{agent.pk}/"
    assert Agent.objects.get(pk=agent.pk).state == "stopped"


def test_start_stop_with_htmx_swap_the_dashboard_row(user_client, agent):
    response = user_client.post(
        f"/dashboard/agents/{agent.pk}/stop/", headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.content.strip().startswith(f'<tr id="agent-{agent.pk}">'.encode())
    assert b"stopped" in response.content and b"Start" in response.content
    assert "agent-changed" in response["HX-Trigger"]


def test_failed_start_shows_the_reason(user_client, agent):
    Agent.objects.filter(pk=agent.pk).update(state="stopped", tools=["gone_tool"])

    response = user_client.post(f"/dashboard/agents/{agent.pk}/start/", follow=True)

    assert b"gone_tool" in response.content
    assert Agent.objects.get(pk=agent.pk).state == "error"


def test_start_stop_access(client, agent, renter):
    assert login(client, renter).post(f"/dashboard/agents/{agent.pk}/stop/").status_code == 403
    assert (
        login(client, UserFactory()).post(f"/dashboard/agents/{agent.pk}/stop/").status_code == 404
    )
    assert (
        login(client, UserFactory()).get(f"/dashboard/agents/{agent.pk}/stop/").status_code == 405
    )
    assert Agent.objects.get(pk=agent.pk).state == "running"


# --- delete --------------------------------------------------------------------------------


def test_delete_confirms_then_deletes(user_client, agent):
    RunFactory(conversation__agent=agent)

    confirm = user_client.get(f"/dashboard/agents/{agent.pk}/delete/")
    assert b"cannot be undone" in confirm.content
    assert b"1 run " in confirm.content and b"listing is withdrawn" in confirm.content
    assert Agent.objects.filter(pk=agent.pk).exists()

    response = user_client.post(f"/dashboard/agents/{agent.pk}/delete/")
    assert response["Location"] == "/dashboard/"
    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_delete_blocked_by_rentals_says_why(user_client, agent, renter):
    confirm = user_client.get(f"/dashboard/agents/{agent.pk}/delete/")
    refused = user_client.post(f"/dashboard/agents/{agent.pk}/delete/", follow=True)

    assert b"1 user(s) rent this agent until" in confirm.content
    assert b"Delete agent" not in confirm.content
    assert b"1 user(s) rent this agent until" in refused.content
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_delete_access(client, agent, renter):
    assert login(client, renter).post(f"/dashboard/agents/{agent.pk}/delete/").status_code == 403
    assert (
        login(client, UserFactory()).post(f"/dashboard/agents/{agent.pk}/delete/").status_code
        == 404
    )
    assert Agent.objects.filter(pk=agent.pk).exists()


# --- chat ------------------------------------------------------------------------------------


def test_chat_access_triad(client, user, agent, renter, listed):
    assert login(client, user).get(f"/dashboard/agents/{agent.pk}/chat/").status_code == 200
    assert login(client, renter).get(f"/dashboard/agents/{agent.pk}/chat/").status_code == 200
    viewer = login(client, UserFactory())
    assert viewer.get(f"/dashboard/agents/{agent.pk}/chat/").status_code == 403  # listed only
    other = AgentFactory()
    assert viewer.get(f"/dashboard/agents/{other.pk}/chat/").status_code == 404


def test_sending_a_message_queues_a_run_and_shows_it(user_client, agent):
    response = user_client.post(f"/dashboard/agents/{agent.pk}/chat/", {"message": "hi there"})

    run = Run.objects.get()
    assert response["Location"] == f"/dashboard/agents/{agent.pk}/chat/?c={run.conversation_id}"
    page = user_client.get(response["Location"])
    assert b"hi there" in page.content
    assert f'hx-get="/dashboard/runs/{run.pk}/"'.encode() in page.content
    assert b"still working" in page.content


def test_htmx_send_returns_the_chat_fragment_and_pushes_the_url(user_client, agent):
    response = user_client.post(
        f"/dashboard/agents/{agent.pk}/chat/", {"message": "hi"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert response.content.strip().startswith(b'<div class="chat-layout" id="chat-main"')
    assert b"hi</a>" in response.content  # the new conversation is listed
    assert response["HX-Push-Url"].startswith(f"/dashboard/agents/{agent.pk}/chat/?c=")


def test_chat_with_a_stopped_agent_is_closed_with_a_reason(user_client, user):
    agent = AgentFactory(owner=user, state="stopped")

    page = user_client.get(f"/dashboard/agents/{agent.pk}/chat/")
    refused = user_client.post(f"/dashboard/agents/{agent.pk}/chat/", {"message": "hi"})

    assert b"Chat is closed" in page.content and b"disabled" in page.content
    assert refused.status_code == 409
    assert b"not running" in refused.content
    assert not Run.objects.exists()


def test_chat_continues_only_own_conversations(client, agent, renter, user):
    theirs = RunFactory(conversation__agent=agent, conversation__user=user).conversation

    response = login(client, renter).get(f"/dashboard/agents/{agent.pk}/chat/?c={theirs.pk}")

    assert response.status_code == 404


def test_chat_query_budget(user_client, agent, django_assert_max_num_queries):
    conversation = RunFactory(conversation__agent=agent).conversation
    RunFactory.create_batch(8, conversation=conversation)

    with django_assert_max_num_queries(14):
        response = user_client.get(
            f"/dashboard/agents/{agent.pk}/chat/?c={conversation.pk}",
            headers={"HX-Request": "true"},
        )

    assert response.content.count(b'class="run-card') == 9


def test_agent_output_is_escaped(user_client, agent):
    run = RunFactory(conversation__agent=agent, output="<script>alert(1)</script>")

    page = user_client.get(f"/dashboard/agents/{agent.pk}/chat/?c={run.conversation_id}")

    assert b"<script>alert(1)</script>" not in page.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content


# --- runs ------------------------------------------------------------------------------------


def test_run_page_access(client, user, agent, renter):
    run = RunFactory(conversation__agent=agent, conversation__user=renter)

    # The agent's owner does not read a renter's run (it counts in the stats only).
    assert login(client, user).get(f"/dashboard/runs/{run.pk}/").status_code == 404
    assert login(client, renter).get(f"/dashboard/runs/{run.pk}/").status_code == 200  # started it
    assert login(client, UserFactory()).get(f"/dashboard/runs/{run.pk}/").status_code == 404


def test_run_partial_polls_until_final(user_client, agent):
    running = RunFactory(conversation__agent=agent, status="running", output=None)
    done = RunFactory(conversation__agent=agent, status="succeeded")

    live = user_client.get(f"/dashboard/runs/{running.pk}/", headers={"HX-Request": "true"})
    final = user_client.get(f"/dashboard/runs/{done.pk}/", headers={"HX-Request": "true"})
    full = user_client.get(f"/dashboard/runs/{done.pk}/")

    assert b"<html" not in live.content and b'hx-trigger="every 1s"' in live.content
    assert b"hx-trigger" not in final.content
    assert "run-finished" in final["HX-Trigger"]
    assert b"<html" in full.content


def test_run_steps_show_code_observation_and_errors(user_client, agent):
    run = RunFactory(conversation__agent=agent)
    run.steps.create(
        index=1, kind="action", text="Let me try.", code="x = 1 / 0", error="ZeroDivisionError"
    )

    page = user_client.get(f"/dashboard/runs/{run.pk}/").content

    assert b"Step 1" in page and b"Let me try." in page
    assert b"ZeroDivisionError" in page and b'class="highlight"' in page


def test_stop_button_cancels_a_run(user_client, agent):
    run = RunFactory(conversation__agent=agent, status="running", output=None)

    response = user_client.post(f"/dashboard/runs/{run.pk}/cancel/", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert b"cancelled" in response.content
    assert Run.objects.get(pk=run.pk).status == "cancelled"


def test_stranger_cannot_cancel(client, agent):
    run = RunFactory(conversation__agent=agent, status="running", output=None)

    assert login(client, UserFactory()).post(f"/dashboard/runs/{run.pk}/cancel/").status_code == 404
    assert Run.objects.get(pk=run.pk).status == "running"
