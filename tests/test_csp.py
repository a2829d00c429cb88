"""The Content-Security-Policy: every page sends it, and no page needs what it forbids.

The policy (config/settings.py) allows scripts and styles from our own origin only, so a
page must not carry an inline <script>, an on*= handler, an hx-on attribute (htmx evals
it), a style= attribute or a <style> element. tests/e2e/test_csp.py checks the same in a
browser, which reports any violation.
"""

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.template.loader import render_to_string
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.services import notify, token_create
from agents import services as agents
from agents.models import RunStep
from agents.validation import AgentConfig
from competitions.services import TaskSpec, competition_create, competition_enter
from gamification.services import rating_save, record_run
from marketplace.auctions import auction_bid, auction_create
from marketplace.services import listing_create, listing_purchase
from social.services import share_create
from tests.factories import (
    ConversationFactory,
    RunFactory,
    ToolFactory,
    ToolVersionFactory,
    UserFactory,
)
from tools_registry.models import Tool

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)

# URL names answered only to POST (no page of their own).
POST_ONLY = {
    "accounts:logout",
    "agents:agent_start",
    "agents:agent_stop",
    "agents:run_cancel",
    "marketplace:listing_purchase",
    "marketplace:listing_withdraw",
    "marketplace:listing_bid",
    "accounts:notification_mark_read",
    "gamification:rating_save",
    "social:follow",
    "social:unfollow",
    "social:agent_fork",
    "social:collaborator_add",
    "social:collaborator_remove",
    "social:run_share",
    "social:run_unshare",
}


class InlineCode(HTMLParser):
    """Collects what the policy would block: inline scripts, inline handlers and styles."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        # A JSON data block (json_script, Swagger's settings) is not run as a script.
        if tag == "script" and "src" not in attrs and attrs.get("type") != "application/json":
            self.found.append("inline <script>")
        if tag == "style":
            self.found.append("<style> element")
        for name in attrs:
            if name.startswith("on") or name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style=...>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


@pytest.fixture
def pages(client):
    """URL name → URL of every page, with data behind each: an agent with tools, steps, a
    conversation, listings, a rental, a sale, ratings, a tool with two versions, a token."""
    viewer = UserFactory(username="viewer", is_staff=True)  # staff: /ops/, /metrics
    seller = UserFactory(username="seller")
    tool = ToolFactory(name="shout", owner=viewer)
    ToolVersionFactory(tool=tool, version=2, created_by=viewer)
    Tool.objects.filter(pk=tool.pk).update(latest_version=2)
    agent = agents.agent_create(
        owner=viewer, config=AgentConfig(name="Mine", model="openai:echo", tools=["shout"])
    )
    agents.agent_start(agent=agent, by=viewer)
    run = RunFactory(conversation=ConversationFactory(agent=agent, user=viewer))
    RunStep.objects.create(run=run, index=1, text="Think", code="x = 6 * 7", observation="42")
    record_run(run=run)
    theirs = agents.agent_create(owner=seller, config=AgentConfig(name="Theirs", model="openai:x"))
    agents.agent_start(agent=theirs, by=seller)
    rent = listing_create(
        agent=theirs, seller=seller, listing_type="rent", price=Decimal("5.00"), rental_days=2
    )
    listing_purchase(listing=rent, buyer=viewer)
    record_run(run=RunFactory(conversation=ConversationFactory(agent=theirs, user=viewer)))
    rating_save(agent=theirs, user=viewer, stars=4, comment="Fine")
    mine_listed = listing_create(
        agent=agent, seller=viewer, listing_type="rent", price=Decimal("3.00"), rental_days=1
    )
    listing_purchase(listing=mine_listed, buyer=seller)
    token_create(user=viewer, name="laptop")
    # An auction the viewer bids on (its page, the bid's confirmation), and their notices.
    auctioned = agents.agent_create(
        owner=seller, config=AgentConfig(name="Gavel", model="openai:x")
    )
    auction = auction_create(
        agent=auctioned,
        seller=seller,
        price=Decimal("4.00"),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    auction_bid(listing=auction, bidder=viewer, max_amount=Decimal("9.00"))
    notify(user=viewer, text="You were outbid", url=f"/marketplace/{auction.pk}/")
    # Competitions: one the viewer entered (its page, the entry's confirmation), one they
    # organize (its cancellation, its tasks page).
    closes = timezone.now() + timedelta(hours=1)
    task = TaskSpec("Say hi", "hi", "contains")
    theirs_cup = competition_create(
        organizer=seller, title="Cup", entry_fee="1", prize="0", closes_at=closes, tasks=[task]
    )
    competition_enter(competition=theirs_cup, agent=agent, by=viewer)
    own_cup = competition_create(
        organizer=viewer, title="Mine", entry_fee="0", prize="0", closes_at=closes, tasks=[task]
    )
    client.force_login(viewer)
    return {
        "home": "/",
        "styleguide": "/styleguide/",
        "accounts:login": "/account/login/",
        "accounts:signup": "/account/signup/",
        "accounts:account": "/account/",
        "accounts:password_change": "/account/password/",
        "accounts:token_list": "/account/tokens/",
        "accounts:token_revoke": f"/account/tokens/{viewer.api_tokens.get().pk}/revoke/",
        "agents:dashboard": "/dashboard/",
        "agents:agent_create": "/dashboard/agents/new/",
        "agents:agent_detail": f"/dashboard/agents/{agent.pk}/",
        "agents:agent_edit": f"/dashboard/agents/{agent.pk}/edit/",
        "agents:agent_delete": f"/dashboard/agents/{agent.pk}/delete/",
        "agents:chat": f"/dashboard/agents/{agent.pk}/chat/?c={run.conversation_id}",
        "agents:run_list": "/dashboard/runs/",
        "agents:run_detail": f"/dashboard/runs/{run.pk}/",
        "marketplace:listing_list": "/marketplace/",
        "marketplace:listing_mine": "/marketplace/mine/",
        "marketplace:listing_detail": f"/marketplace/{rent.pk}/?confirm=1",
        "marketplace:wallet_detail": "/marketplace/wallet/",
        "marketplace:listing_detail auction": f"/marketplace/{auction.pk}/",
        "marketplace:listing_detail auction bid": f"/marketplace/{auction.pk}/?max_amount=12",
        "accounts:notification_list": "/account/notifications/",
        "tools_registry:tool_list": "/tools/",
        "tools_registry:tool_register": "/tools/register/",
        "tools_registry:tool_detail": "/tools/shout/?from=1&to=2",
        "gamification:leaderboard": "/leaderboard/",
        "gamification:achievement_list": "/leaderboard/achievements/",
        "gamification:agent_stats": f"/leaderboard/agents/{theirs.pk}/",
        "monitoring:ops": "/ops/",  # the viewer is staff
        "monitoring:metrics": "/metrics",
        "monitoring:agent_health": f"/dashboard/agents/{agent.pk}/health/?window=30d",
        "competitions:competition_list": "/competitions/",
        "competitions:competition_create": "/competitions/new/",
        "competitions:competition_detail": f"/competitions/{theirs_cup.pk}/",
        "competitions:competition_enter": f"/competitions/{theirs_cup.pk}/enter/?agent={agent.pk}",
        "competitions:competition_cancel": f"/competitions/{own_cup.pk}/cancel/",
        "competitions:competition_tasks": f"/competitions/{own_cup.pk}/tasks/",
        # Error pages.
        "404": "/dashboard/agents/999999/",
        "403": f"/dashboard/agents/{theirs.pk}/edit/",
        # Social.
        "social:explore": "/explore/",
        "social:feed": "/feed/",
        "social:profile": "/u/seller/",
        "social:shared_run": f"/s/{share_create(run=run, by=viewer)[0].token}/",
    }


def url_names(patterns=None, namespace=None):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin" or str(pattern.pattern).startswith("api/"):
                continue  # Django's admin, and the JSON API
            yield from url_names(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_every_page_is_checked(pages):
    assert set(url_names()) - set(pages) - POST_ONLY == set()


def test_every_page_sends_the_policy_and_needs_no_inline_code(client, pages):
    problems = {}
    for name, url in pages.items():
        if name in ("home", "accounts:login", "accounts:signup"):
            continue  # below, logged out
        # The style guide is DEBUG only; django-csp leaves 404s and 500s alone when DEBUG is
        # on (Django's technical pages need inline code), so the rest run as in production.
        with override_settings(DEBUG=name == "styleguide"):
            response = client.get(url)
        expected = {"404": 404, "403": 403}.get(name, 200)
        assert response.status_code == expected, (name, url, response.status_code)
        if found := check(response):
            problems[name] = found
    client.logout()
    for name in ("home", "accounts:login", "accounts:signup"):
        response = client.get(pages[name])
        assert response.status_code == 200, name
        if found := check(response):
            problems[name] = found
    assert not problems


def check(response) -> list[str]:
    found = inline_code(response.content.decode())
    policy = response.get("Content-Security-Policy", "")
    found += [f"policy lacks {directive}" for directive in POLICY if directive not in policy]
    if "unsafe-inline" in policy or "unsafe-eval" in policy:
        found.append(f"policy allows unsafe code: {policy}")
    return found


def test_htmx_fragments_need_no_inline_code(client, pages):
    for url, target in (
        (pages["marketplace:listing_list"], ""),
        (pages["gamification:leaderboard"], ""),
        (pages["marketplace:listing_detail auction"], "auction-status"),
        (pages["competitions:competition_detail"] + "?seen=open", "competition-live"),
    ):
        response = client.get(url, headers={"HX-Request": "true", "HX-Target": target})
        assert response.status_code == 200
        assert inline_code(response.content.decode()) == []


def test_htmx_is_told_not_to_eval_or_add_styles(client):
    html = client.get("/account/login/").content.decode()
    assert "django_htmx/htmx-2.min.js" in html  # our static copy, not a CDN
    assert "https://" not in "".join(line for line in html.splitlines() if "<script" in line)
    assert '"includeIndicatorStyles": false' in html
    assert '"allowEval": false' in html
    assert "js/agentbay.js" in html


def test_api_docs_use_local_swagger_files(client):
    response = client.get("/api/v1/docs")
    html = response.content.decode()
    assert response.status_code == 200
    assert "cdn." not in html
    assert inline_code(html) == []


def test_server_error_page_needs_no_inline_style():
    html = render_to_string("500.html")
    assert inline_code(html) == []
    assert "css/agentbay.css" in html
