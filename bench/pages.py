"""Pages against the framework floor: each page's throughput as a fraction of a hello-world
view served by the same gunicorn (2 workers, DEBUG=0) in the same run, A/B interleaved
(hello, page 1, hello, page 2, …, hello; each page against the mean of its two neighbours),
the queries each page makes at 100 and at 10,000 rows (they must not grow), and its size.

Runs on a throwaway SQLite database unless DATABASE_URL is set; with a PostgreSQL URL it
creates (and drops afterwards) a scratch database next to the one named. Load comes from
`wrk` when installed (`apt-get install -y wrk`), else from Python threads over keep-alive
`http.client` connections (slower: it shares the CPU with the server); the output says which.

    .venv/bin/python bench/pages.py [--rows 10000] [--seconds 3] [--connections 4]

On PostgreSQL the rich pages are served by the page cache (core/pagecache.py) after their
first request, as a page that has not changed is; `PAGE_CACHE=0` measures them built on every
request. The queries counted are those of a page built (this process runs with DEBUG=1, where
nothing is kept), the page cache's fingerprint among them.
"""

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also under gunicorn (bench.pages)

from harness import bench_listings, scratch_database  # noqa: E402

SECRET_KEY = "bench-pages-secret-key-not-for-production-0123456789abcdef"
HELLO = "/bench-hello/"
SMALL = 100
OWN_EVERY = 20  # the logged-in user owns every 20th agent: 500 of 10,000


def wsgi_application():
    """gunicorn's entry (`bench.pages:wsgi_application()`): the site, with the URLconf and
    the static files directory named in the environment (ROOT_URLCONF, BENCH_STATIC_ROOT)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    settings.ROOT_URLCONF = os.environ["ROOT_URLCONF"]
    settings.STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
    return get_wsgi_application()


# --- data ---------------------------------------------------------------------------------


def seed(start: int, stop: int, viewer) -> None:
    """Agents start…stop-1 with stats, listings, sellers (one per 10 agents), unlocks and
    runs for the viewer's agents, and a registered tool per 100 agents."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from agents.models import Agent, Conversation, Run
    from gamification import rules
    from gamification.models import Achievement, AgentAchievement, AgentStats
    from tools_registry.models import Tool

    sellers = User.objects.bulk_create(
        User(username=f"seller{n}", password="!") for n in range(start // 10, stop // 10)
    )
    by_index = dict(zip(range(start // 10, stop // 10), sellers, strict=True))
    agents = Agent.objects.bulk_create(
        Agent(
            owner=viewer if i % OWN_EVERY == 0 else by_index[i // 10],
            name=f"Agent {i}",
            description=f"Benchmark agent number {i}, which answers questions about {i % 97}.",
            tools=["web_search", "final_answer"],
            model="openai:echo",
            state="running" if i % 3 else "stopped",
        )
        for i in range(start, stop)
    )
    codes = [rule.code for rule in rules.ACHIEVEMENTS]
    AgentStats.objects.bulk_create(
        AgentStats(
            agent=agent,
            total_requests=i % 60,
            successful_requests=i % 60 - i % 7 if i % 60 >= i % 7 else 0,
            failed_requests=min(i % 7, i % 60),
            total_response_ms=(i % 60) * 1500,
            rating=(i % 50) / 10,
            total_ratings=i % 12,
            earnings=Decimal(i % 1000),
            experience_points=(i * 37) % 5000,
            level=rules.level_for_xp((i * 37) % 5000),
            achievement_codes=codes[: i % 6],
        )
        for i, agent in zip(range(start, stop), agents, strict=True)
    )
    bench_listings(agents, first=start)
    mine = [(i, a) for i, a in zip(range(start, stop), agents, strict=True) if a.owner == viewer]
    achievements = {a.code: a for a in Achievement.objects.all()}
    AgentAchievement.objects.bulk_create(
        AgentAchievement(agent=agent, achievement=achievements[code])
        for i, agent in mine
        for code in codes[: i % 6]
    )
    conversations = Conversation.objects.bulk_create(
        Conversation(agent=agent, user=viewer, title="bench") for _, agent in mine
    )
    now = timezone.now()
    Run.objects.bulk_create(
        Run(
            conversation=conversation,
            agent=conversation.agent,
            agent_name=conversation.agent.name,
            user=viewer,
            message="What is 6 times 7?",
            status=status,
            output="42",
            started_at=now,
            finished_at=now,
            duration_ms=1500,
        )
        for conversation in conversations
        for status in ("succeeded", "failed")
    )
    Tool.objects.bulk_create(
        Tool(
            name=f"bench_tool_{i}",
            description=f"A registered benchmark tool number {i}.",
            output_type="string",
            owner=by_index[i // 10],
            latest_version=1,
        )
        for i in range(start, stop)
        if i % 100 == 1
    )
    if connection.vendor == "postgresql":
        # Planner statistics and visibility maps, as autovacuum keeps them on a live site
        # (it runs after a bulk insert like this one; index-only scans need the map).
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def pages(viewer) -> dict[str, tuple[str, bool]]:
    """name → (path, logged in); the API list goes with a bearer token instead."""
    from agents.models import Agent

    agent = Agent.objects.filter(owner=viewer).order_by("pk").first()
    return {
        "home": ("/", False),
        "dashboard": ("/dashboard/", True),
        "marketplace": ("/marketplace/?sort=-rating", False),
        "api_agents": ("/api/v1/agents", False),
        "leaderboard": ("/leaderboard/", True),
        "agent": (f"/dashboard/agents/{agent.pk}/", True),
        "achievements": ("/leaderboard/achievements/", True),
        "tools": ("/tools/", True),
        # Not one of the pages: the simplest signed-in page (session, user, the
        # frame, the unread count), the floor every signed-in page above stands on.
        "signed_in_floor": ("/account/", True),
    }


def query_counts(urls, client, api_headers) -> dict[str, int]:
    """Queries per page, in this process with the test client (a warm-up request first)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    anonymous = Client()
    counts = {}
    for name, (path, logged_in) in urls.items():
        which = client if logged_in else anonymous
        headers = api_headers if name == "api_agents" else {}
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                response = which.get(path, headers=headers)
            assert response.status_code == 200, (name, response.status_code)
        counts[name] = len(queries)
    return counts


# --- server and load -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "bench.pages:wsgi_application()",
            "--workers=2",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            status, _ = fetch(port, HELLO, {})
            if status == 200:
                return process, port
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("gunicorn did not start")
        time.sleep(0.2)


def fetch(port: int, path: str, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def load_wrk(port: int, path: str, headers: dict, seconds: float, connections: int) -> float:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not bad, f"{path}: {bad.group(1)} failed responses"
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def load_python(port: int, path: str, headers: dict, seconds: float, connections: int) -> float:
    """Requests per second from `connections` threads, each reusing its connection while the
    server keeps it open (gunicorn's sync workers close it; http.client then reconnects)."""
    done = [0] * connections
    failed: list[int] = []
    stop = time.monotonic() + seconds

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failed.append(response.status)
            done[slot] += 1
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failed, f"{path}: {len(failed)} failed responses"
    return sum(done) / (time.monotonic() - started)


# --- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    url, drop = scratch_database("pagesbench")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": SECRET_KEY,
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    os.environ.update(env)
    os.environ["DEBUG"] = "1"  # this process: query capture and the test client
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    static_root = tempfile.mkdtemp(prefix="agentbay-bench-static-")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, sys; from django.conf import settings; django.setup(); "
            "settings.STATIC_ROOT = sys.argv[1]; from django.core.management import "
            "call_command; call_command('collectstatic', '--noinput', verbosity=0)",
            static_root,
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    env.update({"ROOT_URLCONF": "bench.pages_urls", "BENCH_STATIC_ROOT": static_root})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    servers: list[subprocess.Popen] = []
    try:
        run(args, env, servers)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        drop()
        shutil.rmtree(static_root, ignore_errors=True)


def run(args, env: dict, servers: list) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from accounts.services import token_create

    viewer = User.objects.create_user(username="viewer", password="bench-pages")
    client = Client()
    client.force_login(viewer)
    _token, raw = token_create(user=viewer, name="bench")
    api_headers = {"Authorization": f"Bearer {raw}"}

    seed(0, SMALL, viewer)
    urls = pages(viewer)
    small = query_counts(urls, client, api_headers)
    seed(SMALL, args.rows, viewer)
    large = query_counts(urls, client, api_headers)

    server, port = start_gunicorn(env)
    servers.append(server)
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies['sessionid'].value}"}
    headers = {
        name: api_headers if name == "api_agents" else cookie if logged_in else {}
        for name, (_path, logged_in) in urls.items()
    }
    sizes = {}
    for name, (path, _) in urls.items():
        for _ in range(4):  # warm both workers: templates, connections
            status, body = fetch(port, path, headers[name])
            assert status == 200, (name, status)
        sizes[name] = len(body)
    wrk = shutil.which("wrk")
    load = load_wrk if wrk else load_python

    def rate(path: str, hdrs: dict) -> float:
        return load(port, path, hdrs, args.seconds, args.connections)

    hellos = [rate(HELLO, {})]
    rates = {}
    for name, (path, _) in urls.items():
        rates[name] = rate(path, headers[name])
        hellos.append(rate(HELLO, {}))

    kept = "on" if settings.PAGE_CACHE and connection.vendor == "postgresql" else "off"
    print(
        f"database  {connection.vendor}  rows={args.rows}  server=gunicorn 2 workers DEBUG=0"
        f"  page_cache={kept}"
    )
    print(
        f"load      {'wrk' if wrk else 'python http.client threads'}  "
        f"{args.connections} connections  {args.seconds:g} s per run"
    )
    ratios = {}
    for n, name in enumerate(urls):
        hello = statistics.mean(hellos[n : n + 2])
        ratios[name] = rates[name] / hello
        print(
            f"{name:<13} ratio={ratios[name]:.3f}  rps={rates[name]:8.1f}  hello_rps={hello:8.1f}"
            f"  queries_{SMALL}={small[name]:<3} queries_{args.rows}={large[name]:<3}"
            f"  kib={sizes[name] / 1024:.1f}"
        )
    # The floor is a reference, not one of the pages: its own line, and the last
    # line keeps the issue's format.
    print(f"signed_in_floor_ratio={ratios.pop('signed_in_floor'):.3f}")
    print(
        f"pages min_ratio={min(ratios.values()):.3f} home_ratio={ratios['home']:.3f} "
        f"max_query_growth={max(large[n] - small[n] for n in urls)} "
        f"max_kib={max(sizes.values()) / 1024:.1f}"
    )


if __name__ == "__main__":
    main()
