"""Demo listings and trades for `manage.py seed_demo`, between the demo users of accounts.demo.

Idempotent: agents are found by owner and name, listings are made once per agent, and the
past trades carry fixed idempotency keys, so a second run pays nothing again.
"""

from decimal import Decimal

from django.db import transaction

from accounts.models import User
from agents.models import Agent

from .models import Listing, Transaction
from .services import listing_create, listing_purchase

# seller, agent name, description, tools, listing type, price, rental days
DEMO_AGENTS = [
    (
        "alice",
        "Unit wrangler",
        "Converts lengths, masses and temperatures.",
        ["unit_convert"],
        "rent",
        "25.00",
        7,
    ),
    (
        "alice",
        "Essay critic",
        "Reads a text and reports its length and readability.",
        ["text_stats"],
        "sale",
        "180.00",
        None,
    ),
    (
        "bob",
        "Date counter",
        "Counts days between dates for invoices and deadlines.",
        ["days_between"],
        "rent",
        "12.50",
        3,
    ),
    (
        "bob",
        "Plain calculator",
        "Does arithmetic with Python, step by step.",
        [],
        "sale",
        "90.00",
        None,
    ),
    ("carol", "Word smith", "Measures and compares texts.", ["text_stats"], "rent", "40.00", 30),
    (
        "carol",
        "Trip planner",
        "Plans days between dates and converts distances.",
        ["days_between", "unit_convert"],
        "sale",
        "320.00",
        None,
    ),
]
# buyer, agent name, idempotency key (fixed, so a second seed run is a no-op)
DEMO_TRADES = [
    ("bob", "Unit wrangler", "demo-rent-unit-wrangler"),
    ("carol", "Date counter", "demo-rent-date-counter"),
    ("carol", "Plain calculator", "demo-buy-plain-calculator"),
]


def _agent(owner: User, name: str, description: str, tools: list[str]) -> Agent:
    from agents.services import agent_create, agent_start
    from agents.validation import AgentConfig

    # The name is unique per demo seller; after a demo sale the agent has a new owner.
    agent = Agent.objects.filter(name=name, listings__seller=owner).first()
    agent = agent or Agent.objects.filter(name=name, owner=owner).first()
    if agent is None:
        config = AgentConfig(
            name=name, description=description, tools=tools, model="openai:gpt-4o-mini"
        )
        agent = agent_create(owner=owner, config=config)
        agent_start(agent=agent, by=owner)
    return agent


@transaction.atomic
def seed(log) -> None:
    for username, name, description, tools, kind, price, days in DEMO_AGENTS:
        owner = User.objects.get(username=username)
        agent = _agent(owner, name, description, tools)
        if Listing.objects.for_agent(agent).exists():
            log(f"  listing {name:<18} {kind:<4} {price:>7}  by {username}  [exists]")
            continue
        listing_create(
            agent=agent, seller=owner, listing_type=kind, price=Decimal(price), rental_days=days
        )
        log(f"  listing {name:<18} {kind:<4} {price:>7}  by {username}")
    for username, name, key in DEMO_TRADES:
        buyer = User.objects.get(username=username)
        listing = Listing.objects.filter(agent_name=name).order_by("created_at").first()
        known = Transaction.objects.filter(buyer=buyer, idempotency_key=key).exists()
        txn = listing_purchase(listing=listing, buyer=buyer, idempotency_key=key)
        what = f"until {txn.expires_at:%Y-%m-%d}" if txn.expires_at else "bought"
        note = "  [exists]" if known else ""
        log(f"  trade   {name:<18} {txn.kind:<8} by {username}  {what}{note}")
