"""Every page on a 360 px phone, with realistic data: many tools, 72 conversations, long
names. Nothing may make the page wider than the screen, no table may hide columns (the
actions, the prices) behind a sideways scroll, and the chat's message box must be on
screen when the chat opens, not under the list of conversations."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}


# Wider than its box: the page itself, or a table wrapper scrolling sideways (which hides
# the columns at its right end: a row's actions, a listing's price).
OVERFLOW = """() => {
  const found = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) found.push(`page ${doc.scrollWidth}px`);
  for (const wrap of document.querySelectorAll(".table-wrap")) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      const table = wrap.querySelector("table");
      found.push(`table ${table.id || table.className || "?"} ${wrap.scrollWidth}px`);
    }
  }
  return found;
}"""


def test_every_page_fits_a_360px_phone(busy_world, browser_context, shot):
    data = busy_world
    agent, run = data["agent"], data["run"]
    pages = {
        "dashboard": "/dashboard/",
        "agent-new": "/dashboard/agents/new/",
        "agent-edit": f"/dashboard/agents/{agent.pk}/edit/",
        "agent-detail": f"/dashboard/agents/{agent.pk}/",
        "agent-delete": f"/dashboard/agents/{agent.pk}/delete/",
        "chat": f"/dashboard/agents/{agent.pk}/chat/",
        "chat-conversation": f"/dashboard/agents/{agent.pk}/chat/?c={run.conversation_id}",
        "run": f"/dashboard/runs/{run.pk}/",
        "runs": "/dashboard/runs/",
        "marketplace": "/marketplace/",
        "listing": f"/marketplace/{data['rented'].pk}/",
        "listing-buy": f"/marketplace/{data['for_sale'].pk}/?confirm=1",
        "listings-mine": "/marketplace/mine/",
        "wallet": "/marketplace/wallet/",
        "leaderboard": "/leaderboard/",
        "achievements": "/leaderboard/achievements/",
        "agent-stats": f"/leaderboard/agents/{agent.pk}/",
        "tools": "/tools/",
        "tool": f"/tools/{data['tool']}/",
        "tool-register": "/tools/register/",
        "account": "/account/",
        "tokens": "/account/tokens/",
        "password": "/account/password/",
        "not-found": "/dashboard/agents/999999/",
        "forbidden": f"/dashboard/agents/{data['theirs'].pk}/edit/",
    }
    problems = {}
    context = browser_context(viewport=PHONE, user=data["viewer"])
    page = context.new_page()
    for name, url in pages.items():
        page.goto(url)
        shot(page, name)
        if found := page.evaluate(OVERFLOW):
            problems[name] = found

    anonymous = browser_context(viewport=PHONE)
    page = anonymous.new_page()
    for name in ("home", "login", "signup"):
        url = {"home": "/"}.get(name, f"/account/{name}/")
        page.goto(url)
        shot(page, name)
        if found := page.evaluate(OVERFLOW):
            problems[name] = found
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_chat_message_box_is_on_screen_with_72_conversations(busy_world, browser_context, shot):
    data = busy_world
    context = browser_context(viewport=PHONE, user=data["viewer"])
    page = context.new_page()
    page.goto(f"/dashboard/agents/{data['agent'].pk}/chat/")
    box = page.get_by_label("Message")
    expect(box).to_be_visible()
    full = shot(page, "full-page")
    page.screenshot(path=str(full.with_name(full.name.replace("full-page", "first-screen"))))
    rect = box.bounding_box()
    assert rect["y"] >= 0 and rect["y"] + rect["height"] <= PHONE["height"], rect
    # All the conversations are one tap away.
    page.get_by_text("Conversations (72)").click()
    expect(page.locator(".conversations li a")).to_have_count(72)
