"""Auctions: bid throughput and settlement latency.

Bids: 16 bidders, each a thread with its own database connection, call the bid service
(`marketplace.auctions.auction_bid`: the listing's lock, the holds, the bid row) as fast as
they can, each raising its maximum above the current price; first all on one hot auction
(every bid serialises on its listing's lock), then spread over 100 auctions. Refusals
(409: someone bid higher meanwhile) are counted apart from accepted bids.

Settlement: `--auctions` auctions with a bid each end over a few seconds while two
periodic-job tickers (agents.runtime.periodic, as in two `run_worker` processes) settle
them; the latency is `closed_at − ends_at` of each.

Runs on PostgreSQL (a scratch database beside the DATABASE_URL one, dropped afterwards);
on SQLite, which serialises writers, the figures mean little but it still runs.

    DATABASE_URL=postgres://… .venv/bin/python bench/auctions.py [--bidders 16]
        [--seconds 5] [--auctions 50]
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import percentile, scratch_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bidders", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="per bidding scenario")
    parser.add_argument("--auctions", type=int, default=50, help="for the settlement latency")
    args = parser.parse_args()

    url, drop = scratch_database("auctionbench")
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AUCTION_MIN_SECONDS = 1
    try:
        run(args)
    finally:
        drop()


def make_auctions(n: int, seconds: float) -> list:
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import User
    from agents.models import Agent
    from marketplace.auctions import auction_create

    seller = User.objects.create_user(username=f"seller{time.monotonic_ns()}", password="x")
    made = []
    for index in range(n):
        agent = Agent.objects.create(owner=seller, name=f"lot {index}", model="openai:bench")
        made.append(
            auction_create(
                agent=agent,
                seller=seller,
                price="1.00",
                ends_at=timezone.now() + timedelta(seconds=seconds),
            )
        )
    return made


def bidders(n: int) -> list:
    from accounts.models import User
    from marketplace.services import wallet_grant

    users = []
    for index in range(n):
        user = User.objects.create_user(
            username=f"bidder{index}-{time.monotonic_ns()}", password="x"
        )
        wallet_grant(user=user, amount="100000000.00", by=None)
        users.append(user)
    return users


def bid_rate(users: list, listing_ids: list[int], seconds: float) -> tuple[float, float, int]:
    """(accepted bids/s, refused bids/s, errors) with one thread per user."""
    from django.db import connection

    from core.errors import Conflict
    from marketplace.auctions import auction_bid, min_next_bid
    from marketplace.models import Listing

    accepted = [0] * len(users)
    refused = [0] * len(users)
    errors = [0] * len(users)
    barrier = threading.Barrier(len(users) + 1)
    stop = threading.Event()

    def work(index: int) -> None:
        user = users[index]
        turn = index
        try:
            barrier.wait()
            while not stop.is_set():
                listing = Listing.objects.get(pk=listing_ids[turn % len(listing_ids)])
                turn += len(users)
                amount = min_next_bid(listing) + Decimal(index % 5)
                try:
                    auction_bid(listing=listing, bidder=user, max_amount=amount)
                    accepted[index] += 1
                except Conflict:
                    refused[index] += 1
                except Exception:
                    errors[index] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(users))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return sum(accepted) / elapsed, sum(refused) / elapsed, sum(errors)


def settlement_latency(n: int) -> tuple[float, float, int]:
    """(p50 s, p95 s, settled) of closed_at − ends_at with two tickers running."""
    from datetime import timedelta

    from django.utils import timezone

    from agents.runtime import periodic
    from marketplace.auctions import auction_bid
    from marketplace.models import Listing

    listings = make_auctions(n, seconds=3600)
    (user,) = bidders(1)
    for listing in listings:
        auction_bid(listing=listing, bidder=user, max_amount="2.00")
    # Then they end one after another over the next 3 seconds (set directly: a bid this
    # close to the end would have moved it by the soft close).
    start = timezone.now() + timedelta(seconds=1)
    for index, listing in enumerate(listings):
        ends_at = start + timedelta(seconds=2 * index / n)
        Listing.objects.filter(pk=listing.pk).update(ends_at=ends_at)
    job = next(job for job in periodic.jobs() if job.name == "auctions_settle")
    tickers = [periodic.Ticker([job]), periodic.Ticker([job])]
    for ticker in tickers:
        ticker.start()
    ids = [listing.pk for listing in listings]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not Listing.objects.filter(pk__in=ids, status="active").exists():
            break
        time.sleep(0.2)
    for ticker in tickers:
        ticker.stop()
    rows = Listing.objects.filter(pk__in=ids).exclude(status="active")
    latencies = [(row.closed_at - row.ends_at).total_seconds() for row in rows]
    return percentile(latencies, 0.5), percentile(latencies, 0.95), len(latencies)


def run(args) -> None:
    from django.db import connection

    users = bidders(args.bidders)
    hot = make_auctions(1, seconds=3600)
    hot_rate, hot_refused, hot_errors = bid_rate(users, [hot[0].pk], args.seconds)
    many = make_auctions(100, seconds=3600)
    many_rate, many_refused, many_errors = bid_rate(
        users, [listing.pk for listing in many], args.seconds
    )
    p50, p95, settled = settlement_latency(args.auctions)
    print(f"database   {connection.vendor}")
    print(
        f"hot        {hot_rate:.0f} bids/s accepted, {hot_refused:.0f}/s refused (409), "
        f"{hot_errors} errors, {args.bidders} bidders on 1 auction"
    )
    print(
        f"spread     {many_rate:.0f} bids/s accepted, {many_refused:.0f}/s refused (409), "
        f"{many_errors} errors, {args.bidders} bidders over 100 auctions"
    )
    print(f"settlement p50={p50:.2f} s p95={p95:.2f} s after ends_at ({settled} auctions)")
    print(
        f"db={connection.vendor} bidders={args.bidders} hot_bids_per_s={hot_rate:.0f} "
        f"spread_bids_per_s={many_rate:.0f} errors={hot_errors + many_errors} "
        f"settle_p50_s={p50:.2f} settle_p95_s={p95:.2f} settled={settled}"
    )


if __name__ == "__main__":
    main()
