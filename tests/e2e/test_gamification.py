"""Run an agent, see its XP and an achievement appear, rate it as another user (htmx,
no reload), and watch the leaderboard order change. Real worker, real fake model server,
real marketplace rental so the second user may run and rate the agent."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from agents import services as agents
from agents.validation import AgentConfig
from gamification import rules
from gamification.models import AgentStats
from marketplace.services import listing_create, listing_purchase
from tests.agents.conftest import fake_llm, worker  # noqa: F401 - fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long pass 4242"
TWO_STEP_XP = rules.run_xp(succeeded=True, steps=2)


def make_agent(owner, name: str, model: str = "openai:two-step"):
    agent = agents.agent_create(owner=owner, config=AgentConfig(name=name, model=model))
    return agents.agent_start(agent=agent, by=owner)


def log_in(browser, live_server, username: str):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/account/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def chat(page, agent, message: str = "What is 6 times 7?"):
    page.goto(f"/dashboard/agents/{agent.pk}/chat/")
    page.get_by_label("Message").fill(message)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".answer-text").last).to_contain_text("The answer is 42", timeout=30_000)


def leaderboard_names(page) -> list[str]:
    page.goto("/leaderboard/")
    return page.locator("#leaderboard-table tbody tr td:nth-child(2) a").all_inner_texts()


def test_run_rate_and_climb_the_leaderboard(
    browser,
    live_server,
    worker,  # noqa: F811 - the fixture imported above
    shot,
    django_user_model,
):
    owner = django_user_model.objects.create_user(username="owner", password=PASSWORD)
    fan = django_user_model.objects.create_user(username="fan", password=PASSWORD)
    rival_owner = django_user_model.objects.create_user(username="rival", password=PASSWORD)
    climber = make_agent(owner, "Climber")
    rival = make_agent(rival_owner, "Rival")
    # The fan rents the Climber (which pays it rental XP); the Rival is listed for sale,
    # so everyone sees both on the leaderboard.
    rental = listing_create(
        agent=climber, seller=owner, listing_type="rent", price=Decimal("10.00"), rental_days=1
    )
    listing_purchase(listing=rental, buyer=fan)
    listing_create(agent=rival, seller=rival_owner, listing_type="sale", price=Decimal("50.00"))
    # Ahead of the Climber after both runs, behind it once a 5-star rating lands.
    start_xp = AgentStats.objects.get(agent=climber).experience_points
    AgentStats.objects.filter(agent=rival).update(experience_points=start_xp + 2 * TWO_STEP_XP + 10)

    page = log_in(browser, live_server, "owner")
    assert leaderboard_names(page) == ["Rival", "Climber"]
    expect(page.locator("tr.mine")).to_contain_text("Climber")
    expect(page.locator("tr.mine")).to_contain_text("yours")
    shot(page, "leaderboard-before")

    # The owner runs it in the chat: the run card says what it unlocked.
    chat(page, climber)
    expect(page.get_by_text("Achievement unlocked: First run")).to_be_visible()
    shot(page, "chat-unlock")
    page.goto(f"/leaderboard/agents/{climber.pk}/")
    expect(page.locator("[data-testid=xp]")).to_have_text(f"{start_xp + TWO_STEP_XP} XP")
    expect(page.locator('.achievement.unlocked[data-code="first_run"]')).to_be_visible()
    expect(page.locator('.achievement.locked[data-code="runs_10"]')).to_contain_text("1 / 10 runs")
    page.goto("/leaderboard/achievements/")
    expect(page.locator('.achievement.unlocked[data-code="first_run"]')).to_be_visible()
    shot(page, "achievements")

    # The fan runs it too, then rates it: the ratings swap in place, no reload.
    fan_page = log_in(browser, live_server, "fan")
    chat(fan_page, climber)
    fan_page.goto(f"/dashboard/agents/{climber.pk}/")
    expect(fan_page.locator("[data-testid=xp]")).to_have_text(f"{start_xp + 2 * TWO_STEP_XP} XP")
    fan_page.evaluate("window.__noReload = true")
    fan_page.get_by_label("★★★★★ 5").check()
    fan_page.get_by_label("Comment").fill("Quick and right. <b>Five</b> stars.")
    fan_page.get_by_role("button", name="Rate").click()
    ratings = fan_page.locator("#agent-ratings")
    expect(ratings).to_contain_text("Rating saved.")
    expect(ratings).to_contain_text("Quick and right. <b>Five</b> stars.")
    expect(ratings).to_contain_text("Achievement unlocked: First 5-star rating")
    expect(fan_page.locator("[data-testid=xp]")).to_have_text(
        f"{start_xp + 2 * TWO_STEP_XP + rules.XP_FIVE_STAR} XP"
    )
    assert fan_page.evaluate("window.__noReload") is True
    shot(fan_page, "rated")

    # The rating's XP put the Climber ahead.
    assert leaderboard_names(page) == ["Climber", "Rival"]
    shot(page, "leaderboard-after")
    fan_page.context.close()
    page.context.close()
