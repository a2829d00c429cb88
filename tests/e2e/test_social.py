"""Social in a browser: fork a public agent from its page, share a run and open the link
signed out, revoke it, and follow the agent's author from their profile."""

import pytest
from playwright.sync_api import expect

from agents.models import Agent, RunStep
from social.models import Follow, ShareLink
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_fork_share_revoke_and_follow(browser_context, shot):
    author, me = UserFactory(username="author"), UserFactory(username="reader")
    public = AgentFactory(owner=author, visibility="public", name="Public calculator")
    run = RunFactory(
        conversation__agent=AgentFactory(owner=me, name="My calculator"),
        conversation__user=me,
        message="What is 6 times 7?",
        output="The answer is 42",
    )
    RunStep.objects.create(run=run, index=0, text="I multiply.", code="print(6 * 7)")
    page = browser_context(user=me).new_page()

    # Fork the public agent from its page.
    page.goto(f"/dashboard/agents/{public.pk}/")
    shot(page, "public-agent")
    page.get_by_role("button", name="Fork").click()
    expect(page.locator("#social-panel")).to_contain_text("Forked from Public calculator")
    fork = Agent.objects.get(owner=me, forked_from=public)
    assert page.url.endswith(f"/dashboard/agents/{fork.pk}/")

    # Share a run, open the link signed out, then revoke it.
    page.goto(f"/dashboard/runs/{run.pk}/")
    page.get_by_role("button", name="Share").click()
    link = ShareLink.objects.get(run=run)
    expect(page.locator(".run-share a")).to_contain_text(f"/s/{link.token}/")
    shot(page, "run-shared")
    visitor = browser_context().new_page()
    visitor.goto(f"/s/{link.token}/")
    expect(visitor.get_by_text("The answer is 42")).to_be_visible()
    expect(visitor.get_by_text("I multiply.")).to_be_visible()
    shot(visitor, "shared-page")
    page.get_by_role("button", name="Revoke link").click()
    expect(page.get_by_role("button", name="Share")).to_be_visible()
    response = visitor.goto(f"/s/{link.token}/")
    assert response is not None and response.status == 404

    # Follow the author from their profile.
    page.goto("/u/author/")
    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    shot(page, "profile")
    assert Follow.objects.filter(follower=me, followee=author).exists()
