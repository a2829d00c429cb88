"""The Content-Security-Policy in a real browser. The main pages, and the htmx swaps they
make, run under the policy without breaking it (conftest.fail_on_csp_violations fails any
browser test whose pages do); the log-in and sign-up buttons say when they are busy."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CSP_VIOLATIONS
from tests.factories import TEST_PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_main_pages_and_their_htmx_swaps_keep_the_policy(busy_world, browser_context, shot):
    data = busy_world
    agent, theirs = data["agent"], data["theirs"]
    page = browser_context(user=data["viewer"]).new_page()
    for url in (
        "/dashboard/",
        "/dashboard/agents/new/",
        f"/dashboard/agents/{agent.pk}/",
        f"/dashboard/agents/{agent.pk}/edit/",
        f"/dashboard/runs/{data['run'].pk}/",
        f"/marketplace/{data['for_sale'].pk}/",
        "/marketplace/mine/",
        "/marketplace/wallet/",
        "/leaderboard/achievements/",
        "/tools/register/",
        "/account/tokens/",
        "/dashboard/agents/999999/",
    ):
        response = page.goto(url)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, url
        # htmx runs without eval and added no <style> of its own.
        htmx = "[htmx.config.allowEval, document.querySelectorAll('style').length]"
        assert page.evaluate(htmx) == [False, 0], url

    # htmx swaps: the filters, the tabs, a table row, a rating, the chat.
    page.goto("/marketplace/")
    page.get_by_label("Type").select_option("rent")
    expect(page.locator("#listing-table tbody tr")).to_have_count(2)
    page.goto("/leaderboard/")
    page.get_by_role("link", name="Earnings").click()
    expect(page.get_by_role("link", name="Earnings")).to_have_attribute("aria-current", "page")
    page.goto(f"/tools/{data['tool']}/")
    page.get_by_role("link", name="Version 1").click()
    expect(page.locator("#version-code")).to_contain_text("def extract_structured")
    page.goto(f"/leaderboard/agents/{theirs.pk}/")
    page.get_by_label("3").check()
    page.get_by_role("button", name="Update rating").click()
    expect(page.locator("#agent-ratings")).to_contain_text("3.00 / 5")
    page.goto("/dashboard/")
    page.locator(f"#agent-{agent.pk}").get_by_role("button", name="Stop").click()
    expect(page.locator(f"#agent-{agent.pk} .badge").first).to_have_text("stopped")
    page.locator(f"#agent-{agent.pk}").get_by_role("button", name="Start").click()
    expect(page.locator(f"#agent-{agent.pk} .badge").first).to_have_text("running")
    page.goto(f"/dashboard/agents/{agent.pk}/chat/")
    page.get_by_label("Message").fill("Reconcile April too.")
    page.get_by_label("Message").press("Enter")  # static/js/agentbay.js: Enter sends
    expect(page.locator(".message-user")).to_contain_text("Reconcile April too.")
    shot(page, "chat-sent")

    # The API docs: Swagger UI from static files, under the same policy.
    page.goto("/api/v1/docs")
    expect(page.locator(".swagger-ui .info")).to_contain_text("Agentbay API")
    assert CSP_VIOLATIONS == []


@pytest.mark.parametrize(
    ("url", "button", "busy"),
    [
        ("/account/login/", "Log in", "Logging in…"),
        ("/account/signup/", "Create account", "Creating account…"),
    ],
)
def test_log_in_and_sign_up_buttons_say_they_are_busy(page, url, button, busy):
    page.goto(url)
    # Stand in for a slow server: the page stays while the form is submitted. This listener
    # runs after the page's own (on document), and counts the submissions that would go out.
    page.evaluate(
        """window.sent = 0; window.addEventListener("submit", (event) => {
             if (!event.defaultPrevented) window.sent += 1; event.preventDefault(); });"""
    )
    page.get_by_label("Username").fill("patient")
    page.locator("input[type=password]").first.fill(TEST_PASSWORD)
    page.get_by_role("button", name=button).click()

    expect(page.get_by_role("button", name=busy)).to_be_disabled()
    expect(page.locator("form[data-busy]")).to_have_attribute("aria-busy", "true")
    page.evaluate("document.querySelector('form[data-busy]').requestSubmit()")  # again
    page.get_by_label("Username").press("Enter")  # and again
    assert page.evaluate("window.sent") == 1
