"""Where a purchase's CPU goes: purchases through the API in this process (Django's test
client, DEBUG=0), alternating sales and rentals of distinct listings, each part of the path
timed by its own CPU time (`time.process_time`, the parts it calls subtracted), beside an
authenticated request that does nothing (GET /api/v1/auth/me) as the floor. Also the
statements of one sale and one rental. `bench/marketplace.py` measures the rate over HTTP;
this says what each purchase spends it on.

Runs on a throwaway SQLite database unless DATABASE_URL is set; with a PostgreSQL URL it
creates (and drops afterwards) a scratch database next to the one named.

    .venv/bin/python bench/purchase_profile.py [--purchases 1200]

Its last line:
    purchase_profile db= cpu_ms= floor_ms= sale_queries= rental_queries= <part>_ms=…
"""

import argparse
import collections
import functools
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_listings, scratch_database  # noqa: E402

# (key, what it covers). Each part is its function's own CPU, less the parts it calls;
# "framework" is the whole request less all the others.
PARTS = [
    ("stats", "after commit: the seller's stats, XP, achievements (record_sale)"),
    ("locked", "locked part: row locks, wallets, transaction, ledger, rental or listing"),
    ("transfer", "a sale's owner change, its activity and signal receivers"),
    ("effects", "after commit: the claim, a rental's activity"),
    ("listing", "the API's read of the listing (its 404)"),
    ("auth", "token authentication"),
    ("response", "the response body"),
    ("framework", "the rest: Django, django-ninja, middleware, the test client"),
]


class PartTimer:
    """CPU time per part, each part's own: a part's time excludes the parts it calls."""

    def __init__(self) -> None:
        self.own: collections.Counter = collections.Counter()
        self._stack: list[float] = []

    def wrap(self, key: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            started = time.process_time()
            self._stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                total = time.process_time() - started
                inner = self._stack.pop()
                self.own[key] += total - inner
                if self._stack:
                    self._stack[-1] += total

        return timed


def seed(count: int):
    from accounts.models import User
    from agents.models import Agent
    from gamification.models import AgentStats
    from marketplace import services

    sellers = [User.objects.create_user(username=f"seller{i}") for i in range(20)]
    agents = Agent.objects.bulk_create(
        Agent(owner=sellers[i % 20], name=f"Agent {i}", model="openai:echo", state="running")
        for i in range(count)
    )
    AgentStats.objects.bulk_create(AgentStats(agent=agent) for agent in agents)
    listings = bench_listings(agents)
    buyer = User.objects.create_user(username="buyer")
    services.wallet_grant(user=buyer, amount=Decimal("10000000"), by=None, note="bench")
    return buyer, [(listing.pk, listing.listing_type) for listing in listings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--purchases", type=int, default=1200)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    url, drop = scratch_database("purchaseprofile")
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    env.setdefault("SECRET_KEY", "bench-purchase-profile-secret-key-not-for-production-0123")
    env["SECURE_SSL_REDIRECT"] = "0"
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    # The bench's own users: creating them is not what is measured.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["testserver"]
    try:
        figures = measure(args)
    finally:
        connection.close()
        drop()
    print(
        f"purchase_profile db={figures.pop('db')} "
        + " ".join(f"{key}={value}" for key, value in figures.items())
    )


def measure(args) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import accounts.auth
    import marketplace.api
    import marketplace.services
    from accounts.services import token_create
    from marketplace.models import ListingQuerySet

    buyer, listings = seed(args.warmup + 2 + args.purchases)
    client = Client(headers={"Authorization": f"Bearer {token_create(user=buyer, name='b')[1]}"})
    pending = iter(listings)

    def purchase() -> str:
        pk, listing_type = next(pending)
        response = client.post(
            f"/api/v1/marketplace/{pk}/purchase",
            {"idempotency_key": f"k{pk}"},
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        return listing_type

    for _ in range(args.warmup):
        purchase()
    statements = {}
    for _ in range(2):  # the listings alternate: one sale and one rent
        with CaptureQueriesContext(connection) as captured:
            listing_type = purchase()
        statements[listing_type] = len(captured)

    timer = PartTimer()
    patches = [
        (accounts.auth, "token_authenticate", "auth"),
        (ListingQuerySet, "get_for", "listing"),
        (marketplace.services, "_purchase", "locked"),
        (marketplace.services, "agent_transfer", "transfer"),
        (marketplace.services, "_settle", "effects"),
        (marketplace.services, "record_sale", "stats"),
        (marketplace.api, "_purchase_out", "response"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _key in patches]
    for owner, name, key in patches:
        setattr(owner, name, timer.wrap(key, getattr(owner, name)))
    try:
        request = timer.wrap("framework", purchase)
        for _ in range(args.purchases):
            request()
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)

    started = time.process_time()
    for _ in range(args.purchases // 2):
        assert client.get("/api/v1/auth/me").status_code == 200
    floor_ms = (time.process_time() - started) * 1000 / (args.purchases // 2)

    per = {key: timer.own[key] * 1000 / args.purchases for key, _what in PARTS}
    total = sum(per.values())
    print(f"database  {connection.vendor}; {args.purchases} purchases, sales and rentals")
    for key, what in sorted(PARTS, key=lambda part: -per[part[0]]):
        print(f"  {per[key]:6.2f} ms  {100 * per[key] / total:4.1f} %  {what}")
    print(f"  {total:6.2f} ms  all; floor (GET /api/v1/auth/me) {floor_ms:.2f} ms")
    print(f"statements: a sale {statements['sale']}, a rental {statements['rent']}")
    return {
        "db": connection.vendor,
        "cpu_ms": f"{total:.2f}",
        "floor_ms": f"{floor_ms:.2f}",
        "sale_queries": statements["sale"],
        "rental_queries": statements["rent"],
        **{f"{key}_ms": f"{per[key]:.2f}" for key, _what in PARTS},
    }


if __name__ == "__main__":
    main()
