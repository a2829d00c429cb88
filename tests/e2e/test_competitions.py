"""A competition in a real browser (issue 16): the organizer writes one with a task (the
"Add task" button adds rows), another user enters a running agent from its page (the
confirmation states the fee), it closes by itself, the real worker judges it (the fake
model `echo` answers each prompt word for word, so an exact grader whose expected answer is
the prompt passes it; `slow-3` answers "slow done" after 3 s and fails), the entrant's page
shows the progress bar and then the final table without a reload, and the organizer's tasks
page shows the matrix."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from competitions.models import Competition
from competitions.services import competition_enter
from tests.agents.conftest import fake_llm, worker  # noqa: F401 - fixtures
from tests.competitions.conftest import assert_money_conserved
from tests.e2e.test_mobile import OVERFLOW, PHONE
from tests.factories import AgentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROMPT = "Repeat: alpha"
# How long after it is written the competition closes: time enough for the entrant.
OPEN_SECONDS = 15


def test_organize_enter_judge_and_pay(browser_context, shot, settings, worker, fake_llm):  # noqa: F811
    # A competition may close a few seconds from now (COMPETITION_MIN_SECONDS, read from the
    # environment in production).
    settings.COMPETITION_MIN_SECONDS = 5
    organizer = UserFactory(username="organizer")
    entrant = UserFactory(username="entrant")
    AgentFactory(owner=entrant, name="Echo", model="openai:echo")
    slow_owner = UserFactory(username="slowpoke")
    slow = AgentFactory(owner=slow_owner, name="Slowpoke", model="openai:slow-3")

    # The organizer writes it: one task, a second row added and left blank.
    org = browser_context(user=organizer).new_page()
    org.goto("/competitions/")
    expect(org.locator(".empty")).to_contain_text("No open competitions")
    org.get_by_role("link", name="Organize a competition").first.click()
    org.get_by_label("Title").fill("Echo cup")
    org.get_by_label("Description").fill("Repeat the prompt exactly.")
    org.get_by_label("Entry fee in credits").fill("10.00")
    org.get_by_label("Prize in credits").fill("50.00")
    expect(org.locator("fieldset.task-form")).to_have_count(3)
    org.get_by_role("button", name="Add task").click()
    expect(org.locator("fieldset.task-form")).to_have_count(4)
    expect(org.locator("fieldset.task-form legend").last).to_have_text("Task 4")
    org.locator("#id_tasks-0-prompt").fill(PROMPT)
    org.locator("#id_tasks-0-expected").fill(PROMPT)
    org.locator("#id_tasks-0-grader").select_option("exact")
    closes = timezone.now() + timedelta(seconds=OPEN_SECONDS)
    org.get_by_label("Closes at (UTC)").fill(closes.strftime("%Y-%m-%dT%H:%M:%S"))
    shot(org, "organize")
    org.get_by_role("button", name="Open the competition").click()
    expect(org.locator(".message.success")).to_contain_text("is open until")
    competition = Competition.objects.get(title="Echo cup")
    assert competition.tasks.count() == 1
    url = f"/competitions/{competition.pk}/"
    # A second entrant, whose slow agent keeps the judging going for a few seconds.
    competition_enter(competition=competition, agent=slow, by=slow_owner)

    # The entrant enters their running agent from the competition's page.
    page = browser_context(user=entrant).new_page()
    page.goto("/competitions/")
    page.get_by_role("link", name="Echo cup").click()
    expect(page.locator("#time-left")).to_contain_text("left")
    expect(page.locator("#rules")).to_contain_text("50%, 30% and 20%")
    page.get_by_label("Your running agent").select_option(label="Echo")
    page.get_by_role("button", name="Review entry").click()
    expect(page.locator("#confirm-fee")).to_have_text("10.00 credits")
    shot(page, "confirm-entry")
    page.get_by_role("button", name="Confirm: enter for 10.00 credits").click()
    expect(page.locator(".message.success")).to_contain_text("“Echo” entered “Echo cup”")
    expect(page.locator("#entry-table")).to_contain_text("Echo")
    expect(page.locator("#pool")).to_have_text("70.00 credits")
    assert PROMPT not in page.content()

    # It closes by itself; the worker judges; the page follows without a reload.
    expect(page.locator("#judging-progress")).to_be_visible(timeout=OPEN_SECONDS * 1000 + 15_000)
    expect(page.locator("#progress-text")).to_contain_text("task runs graded")
    shot(page, "judging")
    results = page.locator("#results-table")
    expect(results).to_be_visible(timeout=30_000)
    # Pool 70, the platform's 10% fee 7: the one agent that placed takes 63.
    first = results.locator("tbody tr").first
    expect(first).to_contain_text("Echo")
    expect(first.locator("td").first).to_have_text("1")
    expect(first).to_contain_text("63.00")
    expect(results).to_contain_text("Slowpoke")
    expect(page.locator(".my-results")).to_contain_text("Task 1: passed")
    assert PROMPT not in page.content()
    shot(page, "finished")

    # The organizer's tasks page: the task and every entry's result. Opened in a tab of its
    # own: the organizer's competition page, still open, reloads itself when the status
    # changes, and that reload would interrupt a navigation of the same tab.
    org = browser_context(user=organizer).new_page()
    org.goto(f"{url}tasks/")
    expect(org.locator("#task-table")).to_contain_text(PROMPT)
    matrix = org.locator("#matrix-table")
    expect(matrix.locator("tr", has_text="Echo")).to_contain_text("passed")
    expect(matrix.locator("tr", has_text="Slowpoke")).to_contain_text("failed")
    shot(org, "tasks")

    competition.refresh_from_db()
    assert competition.status == "finished"
    assert_money_conserved()

    # On a phone, no page is wider than the screen and no table hides a column.
    problems = {}
    for user, path in (
        (entrant, "/competitions/?status=finished"),
        (entrant, url),
        (organizer, f"{url}tasks/"),
        (organizer, "/competitions/new/"),
    ):
        phone = browser_context(viewport=PHONE, user=user).new_page()
        phone.goto(path)
        if found := phone.evaluate(OVERFLOW):
            problems[path] = found
    assert not problems
