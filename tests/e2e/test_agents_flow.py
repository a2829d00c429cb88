"""The agents pages in a real browser: build an agent, start it, chat, watch the steps
arrive without reloading, and stop a slow run. The worker runs in this process and the
model is the local fake OpenAI-compatible server."""

import pytest
from playwright.sync_api import expect

from tests.agents.conftest import fake_llm, worker  # noqa: F401 - fixtures
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, user):
    page.goto("/account/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def create_agent(page, shot, name: str, model: str) -> None:
    page.get_by_role("link", name="Create agent").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Model").fill(model)
    page.get_by_label("math", exact=True).check()
    expect(page.locator("#provider-status")).to_contain_text("available")
    shot(page, f"editor-{name}")
    page.get_by_role("button", name="Create and start").click()  # the default button
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("running")


def test_create_start_and_chat_watching_steps_arrive(page, shot, worker, fake_llm):  # noqa: F811
    log_in(page, UserFactory())
    shot(page, "dashboard-empty")
    create_agent(page, shot, "Multiplier", "openai:two-step")
    shot(page, "agent-page")

    page.get_by_role("link", name="Chat").click()
    page.evaluate("window.noReload = true")
    box = page.get_by_label("Message")
    box.fill("What is 6 times 7?")
    box.press("Enter")

    answer = page.locator(".answer-text")
    expect(answer).to_have_text("The answer is 42", timeout=20_000)
    expect(page.locator(".step")).to_have_count(2)
    expect(page.locator(".step").first).to_contain_text("x = 6 * 7")
    expect(page.locator(".observation").first).to_contain_text("42")
    expect(page.locator(".run-card .badge").first).to_have_text("succeeded")
    expect(page.locator(".run-card .xp-gained")).to_contain_text("+15 XP")  # 2 steps
    assert page.evaluate("window.noReload") is True  # no page load happened
    assert "?c=" in page.url
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    shot(page, "chat-answered")

    page.locator(".run-card a.mono").first.click()
    expect(page.get_by_role("heading", name="Run #")).to_be_visible()
    shot(page, "run-page")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#agent-table")).to_contain_text("Multiplier")
    shot(page, "dashboard")


def test_stop_a_slow_run_from_the_chat(page, shot, worker, fake_llm):  # noqa: F811
    log_in(page, UserFactory())
    create_agent(page, shot, "Sleeper", "openai:sleepy-code")
    page.get_by_role("link", name="Chat").click()
    page.get_by_label("Message").fill("Take your time.")
    page.get_by_role("button", name="Send").click()

    expect(page.locator(".working")).to_be_visible(timeout=10_000)
    expect(page.locator(".step")).to_have_count(0)
    shot(page, "chat-working")
    page.locator(".run-card").get_by_role("button", name="Stop").click()

    expect(page.locator(".run-card .badge").first).to_have_text("cancelled", timeout=5_000)
    expect(page.locator(".run-card")).to_contain_text("Cancelled by")
    shot(page, "chat-cancelled")


def test_dashboard_start_stop_swaps_the_row(page, shot, worker):  # noqa: F811
    user = UserFactory()
    from tests.factories import AgentFactory

    AgentFactory(owner=user, name="Toggle", state="stopped")
    log_in(page, user)
    row = page.locator("#agent-table tbody tr").first

    row.get_by_role("button", name="Start").click()
    expect(row.locator(".badge")).to_have_text("running")
    row.get_by_role("button", name="Stop").click()
    expect(row.locator(".badge")).to_have_text("stopped")
    shot(page, "dashboard-row")
