"""Playwright against Debian's chromium and pytest-django's live server.

No browser is downloaded: the tests drive /usr/bin/chromium (installed by .ci/run).
Each visited page is saved as a full-page screenshot under test-artifacts/screenshots/.
"""

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import Client

from accounts.services import token_create
from agents import services as agents
from agents.models import RunStep
from agents.validation import AgentConfig
from gamification.services import rating_save, record_run
from marketplace.services import listing_create, listing_purchase
from tests.factories import ConversationFactory, RunFactory, ToolFactory, UserFactory
from tools_registry.services import registry_defaults_ensure

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

# Playwright's sync API runs an event loop in this thread; the ORM calls tests make for
# set-up and checks are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("REQUIRE_E2E") == "1":
        raise pytest.UsageError(f"REQUIRE_E2E=1 but {CHROMIUM} is missing (apt install chromium)")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} not installed (apt install chromium)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


# What the Content-Security-Policy blocked in any page of any browser test (see
# fail_on_csp_violations). The browser reports each block on the console; the listener turns
# the page's securitypolicyviolation events into console lines too, in case it does not.
CSP_VIOLATIONS: list[str] = []
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => console.error(
  `Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
  + ` at ${e.sourceFile}:${e.lineNumber}`));"""


def _watch_csp(context):
    def on_console(message):
        if "Content Security Policy" in message.text:
            page = message.page.url if message.page else "?"
            CSP_VIOLATIONS.append(f"{page}: {message.text}")

    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", on_console)
    return context


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        new_context = browser.new_context
        # Every context of every test, including those tests make themselves.
        browser.new_context = lambda **kwargs: _watch_csp(new_context(**kwargs))
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def fail_on_csp_violations():
    """Every browser test fails if a page it visited broke the Content-Security-Policy."""
    CSP_VIOLATIONS.clear()
    yield
    if CSP_VIOLATIONS:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(CSP_VIOLATIONS))


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def shot(request):
    """shot(page, "name"): save a full-page screenshot for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{test_name}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def browser_context(browser, live_server):
    """browser_context(viewport=..., user=...): a new context, logged in as `user` if given
    (a session made on the server side: no log-in form to go through)."""
    contexts = []

    def make(*, viewport=None, user=None):
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        if user is not None:
            client = Client()
            client.force_login(user)
            session = client.cookies["sessionid"].value
            context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


LONG = "Extraordinarily Thorough Quarterly Financial Reconciliation Assistant"  # 69 characters
TOOL_NAMES = [f"extract_structured_records_from_scanned_invoices_{n}" for n in range(14)]


@pytest.fixture
def busy_world(transactional_db) -> dict:
    """Realistic data for the pages, a busy account: the viewer owns a long-named agent
    with 14 tools and 72 conversations, sells one agent, rents another, and has ledger
    entries and tokens."""
    registry_defaults_ensure()
    viewer = UserFactory(username="maximiliana_rodriguez_fernandez_accounts")
    other = UserFactory(username="bartholomew_the_second_seller_of_agents")
    for name in TOOL_NAMES:
        ToolFactory(
            name=name,
            owner=viewer,
            description="Reads a scanned invoice and returns its line items, totals, tax "
            "lines and supplier details as one JSON document per page of the scan.",
        )
    agent = agents.agent_create(
        owner=viewer,
        config=AgentConfig(
            name=LONG,
            description="Reconciles every ledger against the bank statements. " * 6,
            tools=TOOL_NAMES + ["web_search"],
            model="openai:gpt-4o-mini-2024-07-18-with-a-long-deployment-suffix",
            allowed_imports=["math", "statistics", "datetime"],
            metadata={"team": "finance-operations-and-quarterly-closing", "owner": "x" * 60},
        ),
    )
    agents.agent_start(agent=agent, by=viewer)
    for n in range(72):
        conversation = ConversationFactory(
            agent=agent, user=viewer, title=f"Reconcile the March ledger, part {n} of many"
        )
        RunFactory(conversation=conversation, message=f"Question {n}: reconcile March?")
    run = RunFactory(
        conversation=conversation,
        message="Sum every_line_item_in_the_extracted_structured_records_of_the_invoices",
        output="The_total_is_" + "1234567890" * 6,
    )
    RunStep.objects.create(
        run=run,
        index=1,
        text="I will add up every line item.",
        code="total = sum(item['amount'] for item in records)  # " + "x" * 120,
        observation="Execution logs:\n" + "0123456789" * 20,
    )
    record_run(run=run)

    # Marketplace: the viewer sells one agent, rents another, and has had a sale.
    sold = agents.agent_create(
        owner=viewer, config=AgentConfig(name=LONG + " II", model="openai:echo")
    )
    rent_out = listing_create(
        agent=sold, seller=viewer, listing_type="rent", price=Decimal("987.65"), rental_days=30
    )
    listing_purchase(listing=rent_out, buyer=other)
    theirs = agents.agent_create(
        owner=other,
        config=AgentConfig(
            name="Supercalifragilisticexpialidocious_Multilingual_Translator_Agent",
            description="Translates contracts. " * 10,
            tools=TOOL_NAMES[:5],
            model="openai:echo",
        ),
    )
    agents.agent_start(agent=theirs, by=other)
    rented = listing_create(
        agent=theirs, seller=other, listing_type="rent", price=Decimal("99.99"), rental_days=7
    )
    listing_purchase(listing=rented, buyer=viewer)
    for n in range(4):
        for_sale = listing_create(
            agent=agents.agent_create(
                owner=other,
                config=AgentConfig(name=f"{LONG} {n}", model="openai:echo", tools=TOOL_NAMES),
            ),
            seller=other,
            listing_type="sale",
            price=Decimal("1000000.00"),
        )
    other_run = RunFactory(
        conversation=ConversationFactory(agent=theirs, user=viewer), message="Translate"
    )
    record_run(run=other_run)
    rating_save(agent=theirs, user=viewer, stars=5, comment="Lovely " * 40)
    token_create(user=viewer, name="continuous-integration-pipeline-on-the-build-server")
    return {
        "viewer": viewer,
        "agent": agent,
        "run": run,
        "rented": rented,
        "theirs": theirs,
        "for_sale": for_sale,
        "tool": TOOL_NAMES[0],
    }
