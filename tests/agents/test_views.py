"""Agents pages: the access triad (owner, renter, stranger) and the htmx pair per view."""

import re
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


def test_dashboard_queries_do_not_grow_with_the_agents(
    user_client, user, django_assert_max_num_queries
):
    for agent in AgentFactory.create_batch(60, owner=user):  # more than a page (25)
        RunFactory.create_batch(2, conversation__agent=agent)

    with django_assert_max_num_queries(12):  # the budget of 15 agents above
        response = user_client.get("/dashboard/")

    assert response.content.count(b'<tr id="agent-') == 25


def test_dashboard_rows_link_each_agent_and_its_actions(user_client, agent):
    content = user_client.get("/dashboard/").content.decode()

    assert f'href="/dashboard/agents/{agent.pk}/"' in content
    assert f'action="/dashboard/agents/{agent.pk}/stop/"' in content
    assert f'href="/dashboard/agents/{agent.pk}/chat/"' in content
    assert 'name="next" value="/dashboard/"' in content


def test_dashboard_counts_runs_today_as_the_stats_do(user_client, user, agent, renter):
    from datetime import timedelta

    from django.utils import timezone

    from marketplace.services import listing_create, listing_purchase, listing_withdraw

    now = timezone.now()
    for status in ("succeeded", "failed", "timed_out", "cancelled", "running"):
        RunFactory(
            conversation__agent=agent,
            status=status,
            finished_at=None if status == "running" else now,
        )
    RunFactory(conversation__agent=agent, status="succeeded", finished_at=now - timedelta(days=2))
    # A second renter: the rental join must not multiply the count.
    listing = listing_create(
        agent=agent, seller=user, listing_type="rent", price=Decimal("5.00"), rental_days=7
    )
    listing_purchase(listing=listing, buyer=UserFactory())
    listing_withdraw(listing=listing, by=user)

    page = user_client.get("/dashboard/").content.decode()

    row = page[page.index(f'<tr id="agent-{agent.pk}">') :]
    row = row[: row.index("</tr>")]
    counts = re.findall(r'<td class="num"[^>]*>(\d+)</td>', row)
    assert counts[0] == "3"  # succeeded, failed, timed out today; not cancelled, not running
    assert "cancelled turns and turns still in flight are not counted" in page


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


def test_editor_folds_unusable_tools_under_a_note(user_client):
    from tests.factories import ToolFactory
    from tools_registry.models import Tool

    ToolFactory(name="good_tool")
    ToolFactory(name="broken_tool", status="invalid", status_reason="imports os")
    Tool.objects.filter(name="web_search").update(
        runnable=False, runnable_note="Needs the duckduckgo-search package."
    )

    page = user_client.get("/dashboard/agents/new/").content.decode()

    assert 'value="good_tool"' in page
    folded = page[page.index('<details class="unavailable-tools"') :]
    folded = folded[: folded.index("</details>")]
    assert "not available on this server" in folded
    assert "broken_tool" in folded and "imports os" in folded
    assert "web_search" in folded and "duckduckgo-search" in folded
    # Not offered as a choice at all, in the table or under the note.
    assert 'value="broken_tool"' not in page and 'value="web_search"' not in page


def test_a_picked_tool_that_became_unusable_stays_in_the_table_to_unpick(user_client, user):
    from tests.factories import ToolFactory

    ToolFactory(name="broken_tool", status="invalid", status_reason="imports os")
    agent = AgentFactory(owner=user, tools=["broken_tool"])

    page = user_client.get(f"/dashboard/agents/{agent.pk}/edit/").content.decode()

    row = page[page.index('value="broken_tool"') :][:300]
    assert "checked" in row and "disabled" not in row
    assert "Unpick it to save" in page


# --- editor: model providers, instructions, create and start ----------------------------------


def test_editor_lists_the_providers_this_server_has(user_client, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)

    page = user_client.get("/dashboard/agents/new/").content.decode()

    assert 'list="model-providers"' in page and '<datalist id="model-providers">' in page
    status = page[page.index('id="provider-status"') :]
    status = status[: status.index("</ul>")]
    openai = status[status.index("<code>openai:</code>") :][:120]
    hf = status[status.index("<code>hf:</code>") :][:120]
    assert "available" in openai and "not configured" not in openai
    assert "not configured" in hf
    assert "11434" not in page  # whether a variable is set, never its value


def test_a_bare_model_name_is_refused_naming_the_prefixes(user_client):
    response = user_client.post(
        "/dashboard/agents/new/", {"name": "X", "model": "gpt-4", "metadata": "{}"}
    )

    assert response.status_code == 422
    assert b"names no provider" in response.content
    assert b"hf:, openai:, litellm:" in response.content
    assert not Agent.objects.exists()


def test_a_provider_without_credentials_warns_but_saves(user_client, user, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    data = {"name": "Hugger", "model": "hf:Qwen/Qwen2.5-Coder-32B-Instruct", "metadata": "{}"}

    invalid = user_client.post("/dashboard/agents/new/", {**data, "name": ""})
    response = user_client.post("/dashboard/agents/new/", data, follow=True)

    assert invalid.status_code == 422
    assert b'id="model-warning"' in invalid.content and b"HF_TOKEN" in invalid.content
    assert Agent.objects.get(owner=user).model == "hf:Qwen/Qwen2.5-Coder-32B-Instruct"
    assert b'class="message warning"' in response.content and b"HF_TOKEN" in response.content


def test_no_warning_when_the_provider_is_configured(user_client, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")

    response = user_client.post(
        "/dashboard/agents/new/",
        {"name": "Fine", "model": "openai:gpt-4o-mini", "metadata": "{}"},
        follow=True,
    )

    assert b'class="message warning"' not in response.content


def test_create_and_start_is_the_default_button(user_client, user):
    page = user_client.get("/dashboard/agents/new/").content.decode()
    editor = page[page.index('<form method="post" class="stack wide"') :]
    first = editor.index('type="submit"')

    # The form's first submit button is the one Enter presses.
    assert editor[first:].startswith('type="submit" class="primary" name="then" value="start"')
    assert ">Create and start<" in page and ">Create only<" in page

    response = user_client.post(
        "/dashboard/agents/new/",
        {"name": "Quick", "model": "openai:echo", "metadata": "{}", "then": "start"},
        follow=True,
    )

    agent = Agent.objects.get(owner=user)
    assert agent.state == "running"
    assert b"created and running" in response.content


def test_create_and_start_with_a_failing_start_says_why(user_client, user, monkeypatch):
    from core.errors import Conflict

    def refuse(*, agent, by):
        raise Conflict("The tools registry is down.")

    monkeypatch.setattr("agents.services.agent_start", refuse)

    response = user_client.post(
        "/dashboard/agents/new/",
        {"name": "Slow", "model": "openai:echo", "metadata": "{}", "then": "start"},
        follow=True,
    )

    assert Agent.objects.get(owner=user).state == "created"
    assert b"created, not started: The tools registry is down." in response.content


def test_instructions_have_their_own_field(user_client, user):
    user_client.post(
        "/dashboard/agents/new/",
        {
            "name": "Poet",
            "model": "openai:echo",
            "instructions": "Answer in verse.",
            "metadata": '{"team": "words"}',
        },
    )

    agent = Agent.objects.get(owner=user)
    assert agent.metadata == {"team": "words", "instructions": "Answer in verse."}
    edit = user_client.get(f"/dashboard/agents/{agent.pk}/edit/").content.decode()
    textarea = edit[edit.index('name="instructions"') :]
    assert textarea[: textarea.index("</textarea>")].endswith("Answer in verse.")
    metadata = edit[edit.index('name="metadata"') :]
    assert '"instructions"' not in metadata[: metadata.index("</textarea>")]
    detail = user_client.get(f"/dashboard/agents/{agent.pk}/").content.decode()
    assert "<dt>Instructions</dt>" in detail and "Answer in verse." in detail


def test_edit_access_triad(client, user, agent, renter):
    assert login(client, user).get(f"/dashboard/agents/{agent.pk}/edit/").status_code == 200
    assert login(client, renter).get(f"/dashboard/agents/{agent.pk}/edit/").status_code == 403
    assert (
        login(client, UserFactory()).get(f"/dashboard/agents/{agent.pk}/edit/").status_code == 404
    )


def test_edit_keeps_instructions_it_did_not_show_as_json(user_client, agent):
    agent.metadata = {"instructions": "Be brief.", "team": "x"}
    agent.save()

    user_client.post(
        f"/dashboard/agents/{agent.pk}/edit/",
        {
            "name": "Helper",
            "model": "openai:echo",
            "instructions": "Be brief.",
            "metadata": '{"team": "x"}',
        },
    )

    agent.refresh_from_db()
    assert agent.metadata == {"instructions": "Be brief.", "team": "x"}


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
    assert f'hx-post="/dashboard/agents/{agent.pk}/start/"'.encode() in response.content
    # The button submits the dashboard's one actions form (its CSRF token and `next`).
    assert f'form="agent-actions" formaction="/dashboard/agents/{agent.pk}/start/"'.encode() in (
        response.content
    )
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


def test_a_queued_run_shows_one_state(user_client, agent):
    queued = RunFactory(conversation__agent=agent, status="queued", output=None)
    running = RunFactory(conversation__agent=agent, status="running", output=None)
    running.steps.create(index=1, kind="action", text="Thinking.")

    card = user_client.get(f"/dashboard/runs/{queued.pk}/", headers={"HX-Request": "true"})
    live = user_client.get(f"/dashboard/runs/{running.pk}/", headers={"HX-Request": "true"})

    assert b'<span class="badge queued">queued</span>' in card.content
    assert b"working" not in card.content and b"steps-box" not in card.content
    assert b"Stop</button>" in card.content
    assert b"working\xe2\x80\xa6 step 2" in live.content


def test_a_failed_run_counts_its_steps_and_folds_a_repeated_error(user_client, agent):
    run = RunFactory(
        conversation__agent=agent,
        status="failed",
        output=None,
        error="Stopped after 10 steps without a final answer.",
    )
    run.steps.create(index=1, kind="planning", text="Plan: compute.")
    for index in range(2, 5):
        run.steps.create(index=index, kind="action", code=f"x = {index}", observation="ok")
    for index in range(5, 12):
        run.steps.create(index=index, kind="action", code="undefined()", error="NameError: x")

    page = user_client.get(f"/dashboard/runs/{run.pk}/").content.decode()

    assert "10 steps and 1 plan</summary>" in page
    assert "The same error 7 times, steps 5–11: show the other 6</summary>" in page
    shown = page[: page.index('class="step-repeats"')]
    assert shown.count("NameError: x") == 1  # once in full, the rest folded under the note


def test_different_errors_are_not_folded(user_client, agent):
    run = RunFactory(conversation__agent=agent, status="failed", output=None, error="x")
    run.steps.create(index=1, kind="action", error="NameError: a")
    run.steps.create(index=2, kind="action", error="NameError: b")

    page = user_client.get(f"/dashboard/runs/{run.pk}/").content.decode()

    assert "step-repeats" not in page and "2 steps</summary>" in page


# --- visitors (not logged in) ----------------------------------------------------------------


def test_a_visitor_sees_a_listed_agent_read_only(client, listed):
    RunFactory(conversation__agent=listed, message="owner's question")

    page = client.get(f"/dashboard/agents/{listed.pk}/")

    content = page.content.decode()
    assert page.status_code == 200
    assert ">Chat<" not in content and "Edit" not in content and "Delete" not in content
    assert "owner&#x27;s question" not in content and "Recent runs" not in content
    assert 'id="visitor-note"' in content and "/account/login/?next=" in content
    assert 'id="agent-stats"' in content  # the stats panel, read-only
    assert "Log in to rate agents." in content


def test_a_visitor_is_sent_to_log_in_for_any_other_agent(client, agent):
    private = client.get(f"/dashboard/agents/{agent.pk}/")
    missing = client.get("/dashboard/agents/999999/")

    for response in (private, missing):
        assert response.status_code == 302
        assert response["Location"].startswith("/account/login/?next=/dashboard/agents/")
