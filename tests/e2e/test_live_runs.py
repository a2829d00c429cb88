"""A chat turn's card follows the run's event stream (GET /api/v1/runs/{id}/events) in a
real browser, and falls back to polling its partial when the stream is refused."""

import re

import pytest
from playwright.sync_api import expect

from tests.agents.conftest import fake_llm, worker  # noqa: F401 - fixtures
from tests.e2e.test_agents_flow import create_agent, log_in
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EVENTS = re.compile(r"/api/v1/runs/\d+/events")
# The model answers after 2 s: the card is still in flight when the page has loaded.
SLOW_MODEL = "openai:slow-2"


def chat(page, message: str) -> None:
    page.get_by_role("link", name="Chat").click()
    page.evaluate("window.noReload = true")
    page.get_by_label("Message").fill(message)
    page.get_by_role("button", name="Send").click()


def test_the_run_card_follows_the_event_stream(page, shot, worker, fake_llm):  # noqa: F811
    log_in(page, UserFactory())
    create_agent(page, shot, "Streamer", SLOW_MODEL)
    streams = []
    page.on("request", lambda request: EVENTS.search(request.url) and streams.append(request))

    chat(page, "What is 6 times 7?")

    expect(page.locator(".answer-text")).to_have_text("slow done", timeout=20_000)
    expect(page.locator(".step")).to_have_count(1)
    expect(page.locator(".run-card .badge").first).to_have_text("succeeded")
    assert streams, "the card never opened the run's event stream"
    assert streams[0].headers.get("accept", "").startswith("text/event-stream")
    assert page.evaluate("window.noReload") is True
    shot(page, "chat-streamed")


def test_without_streams_the_card_polls(page, shot, worker, fake_llm):  # noqa: F811
    log_in(page, UserFactory())
    create_agent(page, shot, "Poller", SLOW_MODEL)
    refused = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort()

    page.route(EVENTS, refuse)
    chat(page, "What is 6 times 7?")

    expect(page.locator(".answer-text")).to_have_text("slow done", timeout=20_000)
    expect(page.locator(".run-card .badge").first).to_have_text("succeeded")
    assert refused, "the card did not try the stream first"
    assert page.evaluate("window.noReload") is True
