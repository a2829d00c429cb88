"""Marketplace at scale: the browser page and GET /api/v1/marketplace over 10,000 listings
(median time and query count), and purchase throughput under 16 concurrent buyers.

Runs on a throwaway SQLite database unless DATABASE_URL is set; with a PostgreSQL URL it
creates (and drops afterwards) a scratch database next to the one named, so real data is
never touched. Throughput needs real concurrent connections, so it is measured on
PostgreSQL only (`n/a` on SQLite, which serialises writers).

    .venv/bin/python bench/marketplace.py [--listings 10000] [--requests 30] [--buyers 16]
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import scratch_database  # noqa: E402


def timed(call, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--buyers", type=int, default=16)
    parser.add_argument("--purchases", type=int, default=20, help="per buyer")
    args = parser.parse_args()

    url, drop = scratch_database("marketbench")
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    # Creating users is not what is measured: a fast hasher for the bench's own users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    try:
        run(args)
    finally:
        drop()


def run(args) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import token_create
    from agents.models import Agent
    from gamification.models import AgentStats
    from marketplace.models import Listing

    sellers = [User.objects.create_user(username=f"seller{i}") for i in range(20)]
    agents = Agent.objects.bulk_create(
        Agent(
            owner=sellers[i % len(sellers)],
            name=f"Agent {i}",
            description=f"Benchmark agent number {i}",
            tools=["web_search"],
            model="openai:echo",
            state="running",
        )
        for i in range(args.listings)
    )
    AgentStats.objects.bulk_create(
        AgentStats(agent=a, rating=(i % 50) / 10, level=1 + i % 9) for i, a in enumerate(agents)
    )
    Listing.objects.bulk_create(
        Listing(
            agent=a,
            agent_name=a.name,
            seller=a.owner,
            listing_type="rent" if i % 2 else "sale",
            rental_days=7 if i % 2 else None,
            price=Decimal(1 + i % 500),
        )
        for i, a in enumerate(agents)
    )
    viewer = User.objects.create_user(username="viewer")
    page_client = Client()
    page_client.force_login(viewer)
    _token, raw = token_create(user=viewer, name="bench")
    api_client = Client(headers={"Authorization": f"Bearer {raw}"})

    def page() -> None:
        assert page_client.get("/marketplace/", {"sort": "-rating"}).status_code == 200

    def api() -> None:
        response = api_client.get("/api/v1/marketplace", {"sort": "-rating", "limit": 20})
        assert response.status_code == 200 and response.json()["count"] == args.listings

    counts = []
    for call in (page, api):
        call()  # warm up
        with CaptureQueriesContext(connection) as queries:
            call()
        counts.append(len(queries))
    page_ms = statistics.median(timed(page, args.requests))
    api_ms = statistics.median(timed(api, args.requests))
    rate = purchases_per_second(args) if connection.vendor == "postgresql" else None

    print(f"database  {connection.vendor}")
    print(f"page      p50={page_ms:.1f} ms  queries={counts[0]}")
    print(f"api       p50={api_ms:.1f} ms  queries={counts[1]}")
    print(f"purchases {rate and f'{rate:.1f}/s' or 'n/a'}  ({args.buyers} concurrent buyers)")
    print(
        f"marketplace listings={args.listings} page_p50_ms={page_ms:.1f} api_p50_ms={api_ms:.1f} "
        f"page_queries={counts[0]} api_queries={counts[1]} "
        f"purchases_per_s={f'{rate:.1f}' if rate else 'n/a'}"
    )


def purchases_per_second(args) -> float:
    """Each of `buyers` threads rents `purchases` rent listings through the API at once."""
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from accounts.services import token_create
    from marketplace.models import Listing

    rent_ids = list(
        Listing.objects.active()
        .filter(listing_type="rent", price__lte=40)
        .values_list("pk", flat=True)[: args.buyers * args.purchases]
    )
    buyers = [User.objects.create_user(username=f"buyer{i}") for i in range(args.buyers)]
    headers = [{"Authorization": f"Bearer {token_create(user=b, name='b')[1]}"} for b in buyers]
    barrier = threading.Barrier(args.buyers + 1)
    failures: list = []

    def buy(index: int) -> None:
        client = Client(headers=headers[index])
        mine = rent_ids[index :: args.buyers]
        barrier.wait()
        try:
            for pk in mine:
                response = client.post(
                    f"/api/v1/marketplace/{pk}/purchase", {}, content_type="application/json"
                )
                if response.status_code != 201:
                    failures.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(args.buyers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert not failures, failures
    return len(rent_ids) / elapsed


if __name__ == "__main__":
    main()
