"""Marketplace at scale: the browser page and GET /api/v1/marketplace over 10,000 listings
(median time and query count), and purchase throughput over HTTP: 16 buyers, each a process
with its own API token and keep-alive connection, POST /api/v1/marketplace/{id}/purchase at
once to gunicorn (`--workers` processes × `--threads` threads, DEBUG=0). Two scenarios:
"many" (every purchase a different listing, sales and rentals alternating) and "hot" (all
buyers rent the same listing again and again, which serialises on its locks); then, for
scale, "floor": the same buyers GET /api/v1/auth/me (token auth and one query, no purchase).
It prints the CPU the gunicorn workers and their PostgreSQL backends spent per request
(from /proc): run it on an otherwise idle machine, the rates depend on the cores free.

Runs on a throwaway SQLite database unless DATABASE_URL is set; with a PostgreSQL URL it
creates (and drops afterwards) a scratch database next to the one named, so real data is
never touched. Throughput needs real concurrent connections, so it is measured on
PostgreSQL only (`n/a` on SQLite, which serialises writers).

    .venv/bin/python bench/marketplace.py [--listings 10000] [--requests 30] [--buyers 16]
        [--purchases 40] [--workers 4] [--threads 4]
"""

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import bench_listings, scratch_database  # noqa: E402

SECRET_KEY = "bench-marketplace-secret-key-not-for-production-0123456789"
TICKS = os.sysconf("SC_CLK_TCK")


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
    parser.add_argument("--purchases", type=int, default=40, help="per buyer and scenario")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
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
        run(args, env)
    finally:
        drop()


def run(args, env: dict) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from accounts.services import token_create
    from agents.models import Agent
    from gamification.models import AgentStats

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
    bench_listings(agents)
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
    rates: dict[str, Result] = {}
    if connection.vendor == "postgresql":
        rates = purchases_per_second(args, env)

    print(f"database  {connection.vendor}")
    print(f"page      p50={page_ms:.1f} ms  queries={counts[0]}")
    print(f"api       p50={api_ms:.1f} ms  queries={counts[1]}")
    if not rates:
        print(f"purchases n/a  ({args.buyers} concurrent buyers)")
    for name, result in rates.items():
        what = "requests " if name == "floor" else "purchases"
        print(
            f"{what} {name:<5} {result.rate:6.1f}/s  ({args.buyers} concurrent buyers over "
            f"HTTP, gunicorn {args.workers}x{args.threads})  p50={result.p50:.1f} ms "
            f"p95={result.p95:.1f} ms  cpu/request: app={result.app_cpu_ms:.2f} ms "
            f"db={result.db_cpu_ms:.2f} ms  queries={result.queries}"
        )
    many, hot = rates.get("many"), rates.get("hot")
    print(
        f"marketplace listings={args.listings} page_p50_ms={page_ms:.1f} api_p50_ms={api_ms:.1f} "
        f"page_queries={counts[0]} api_queries={counts[1]} "
        f"purchases_per_s={f'{many.rate:.1f}' if many else 'n/a'} "
        f"hot_purchases_per_s={f'{hot.rate:.1f}' if hot else 'n/a'}"
    )


# --- purchases over HTTP --------------------------------------------------------------------


class Result:
    def __init__(self, rate, latencies, app_cpu_ms, db_cpu_ms, queries):
        self.rate = rate
        self.p50 = statistics.median(latencies)
        self.p95 = sorted(latencies)[int(0.95 * (len(latencies) - 1))]
        self.app_cpu_ms = app_cpu_ms
        self.db_cpu_ms = db_cpu_ms
        self.queries = queries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pids) -> float:
    """utime + stime of these processes, from /proc (processes gone since count as 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def backends() -> list[int]:
    """The PostgreSQL server processes serving the bench database, except ours."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def start_gunicorn(args, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server_env = {
        **env,
        "DEBUG": "0",
        "SECRET_KEY": SECRET_KEY,
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Enough pooled connections for every thread of a worker.
        "DB_POOL_MAX_SIZE": str(max(args.threads + 1, int(env.get("DB_POOL_MAX_SIZE", 0) or 0))),
        "DB_POOL_MIN_SIZE": str(args.threads),
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            f"--workers={args.workers}",
            f"--threads={args.threads}",
            f"--bind=127.0.0.1:{port}",
            "--backlog=256",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=server_env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status < 500:
                conn.close()
                return process, port
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)


def buyer(port: int, token: str, tag: str, ids: list[int], barrier, out) -> None:
    """One buyer process: its purchases one after the other on one keep-alive connection
    (an id of 0: GET /api/v1/auth/me instead, the authenticated API's floor)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses: dict[int, int] = {}
    latencies = []
    barrier.wait()
    started = time.monotonic()
    for n, pk in enumerate(ids):
        body = json.dumps({"idempotency_key": f"{tag}-{n}"})
        sent = time.monotonic()
        for attempt in range(2):  # once more if the server closed the kept-alive connection
            try:
                if pk:
                    conn.request("POST", f"/api/v1/marketplace/{pk}/purchase", body, headers)
                else:
                    conn.request("GET", "/api/v1/auth/me", headers=headers)
                response = conn.getresponse()
                response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                if attempt:
                    raise
        latencies.append((time.monotonic() - sent) * 1000)
        statuses[response.status] = statuses.get(response.status, 0) + 1
    out.put((started, time.monotonic(), statuses, latencies))


def scenario(tag: str, port: int, server_pid: int, tokens: list[str], ids: list[list[int]]):
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(tokens) + 1)
    out = ctx.Queue()
    from django.db import connection

    connection.close()  # not shared with the forked buyers
    procs = [
        ctx.Process(target=buyer, args=(port, token, tag, mine, barrier, out))
        for token, mine in zip(tokens, ids, strict=True)
    ]
    for proc in procs:
        proc.start()
    workers, pg = children(server_pid), backends()
    app_before, db_before = cpu_seconds(workers), cpu_seconds(pg)
    barrier.wait()
    results = [out.get(timeout=600) for _ in procs]
    pg = sorted(set(pg) | set(backends()))
    app_cpu, db_cpu = cpu_seconds(workers) - app_before, cpu_seconds(pg) - db_before
    for proc in procs:
        proc.join()
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    for _started, _ended, counted, times in results:
        for status, count in counted.items():
            statuses[status] = statuses.get(status, 0) + count
        latencies += times
    ok = 200 if tag == "floor" else 201
    assert set(statuses) == {ok}, statuses
    done = statuses[ok]
    elapsed = max(r[1] for r in results) - min(r[0] for r in results)
    return done / elapsed, latencies, app_cpu * 1000 / done, db_cpu * 1000 / done


def purchase_queries(buyer_user, listing_id: int) -> int:
    """Queries of one purchase through the API (in this process, test client)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.services import token_create

    client = Client(
        headers={"Authorization": f"Bearer {token_create(user=buyer_user, name='q')[1]}"}
    )
    with CaptureQueriesContext(connection) as queries:
        response = client.post(
            f"/api/v1/marketplace/{listing_id}/purchase",
            {"idempotency_key": f"queries-{listing_id}"},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    return len(queries)


def purchases_per_second(args, env: dict) -> dict[str, "Result"]:
    """Each buyer process buys `purchases` listings through the API at once: distinct ones
    ("many"), then the same rent listing ("hot")."""
    from accounts.models import User
    from accounts.services import token_create
    from marketplace import services
    from marketplace.models import Listing

    per = args.purchases
    active = Listing.objects.active()
    rent_ids = list(active.filter(listing_type="rent").values_list("pk", flat=True))
    sale_ids = list(active.filter(listing_type="sale").values_list("pk", flat=True))
    need = args.buyers * per // 2 + 2
    assert len(rent_ids) >= need and len(sale_ids) >= need, "not enough listings: --listings"
    mixed = [pk for pair in zip(rent_ids[1:need], sale_ids[1:need], strict=True) for pk in pair]
    hot = rent_ids[0]
    buyers = [User.objects.create_user(username=f"buyer{i}") for i in range(args.buyers)]
    for user in buyers:
        services.wallet_grant(user=user, amount=Decimal("500000"), by=None, note="bench")
    tokens = [token_create(user=b, name="bench")[1] for b in buyers]
    query_buyer = User.objects.create_user(username="buyer-queries")
    queries = {
        "many": purchase_queries(query_buyer, sale_ids[0]),
        "hot": purchase_queries(query_buyer, hot),
    }

    server, port = start_gunicorn(args, env)
    try:
        # Warm every worker (imports, pooled connections) on listings not measured.
        warm = [[rent_ids[-1 - i]] * 4 for i in range(args.buyers)]
        scenario("warm", port, server.pid, tokens, warm)
        plans = {
            "many": [mixed[i :: args.buyers][:per] for i in range(args.buyers)],
            "hot": [[hot] * per for _ in range(args.buyers)],
            "floor": [[0] * per * 2 for _ in range(args.buyers)],
        }
        results = {}
        for name, ids in plans.items():
            rate, latencies, app_cpu, db_cpu = scenario(name, port, server.pid, tokens, ids)
            results[name] = Result(rate, latencies, app_cpu, db_cpu, queries.get(name, 1))
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
