"""The ops board for staff: `GET /api/v1/ops` and the page `/ops/` (docs/API.md, Monitoring),
and the worker registry the workers keep (agents.models.Worker)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import services
from agents.models import Run, Worker
from agents.runtime.reaper import Reaper
from tests.agents import conftest as agents_conftest
from tests.agents.conftest import running_worker, wait_for
from tests.factories import RunFactory, UserFactory

# Real `manage.py run_worker` processes on the test database (the agents tests' fixture).
worker_process = agents_conftest.worker_process

CONTRACT = {
    "queued",
    "running",
    "oldest_queued_seconds",
    "workers",
    "runs_last_hour",
    "reaped_last_hour",
}


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def finished(status: str, seconds_ago: float = 60, **extra) -> Run:
    return RunFactory(status=status, finished_at=ago(seconds_ago), duration_ms=1500, **extra)


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def board(db):
    """A queue, a last hour and two workers, one of them silent for a minute."""
    queued = RunFactory(status="queued", output=None)
    Run.objects.filter(pk=queued.pk).update(created_at=ago(42))
    RunFactory(status="queued", output=None)
    RunFactory(status="running", output=None, started_at=ago(3), heartbeat_at=ago(1))
    finished("succeeded")
    finished("succeeded")
    finished("failed", error="boom")
    finished("failed", error=Run.WORKER_LOST_ERROR)
    finished("cancelled")
    finished("timed_out")
    finished("succeeded", seconds_ago=2 * 3600)  # not the last hour
    finished("failed", seconds_ago=2 * 3600, error=Run.WORKER_LOST_ERROR)
    Worker.objects.create(
        name="host-a:101",
        last_seen=timezone.now(),
        capacity=50,
        in_flight=1,
        isolation={"mode": "isolated"},
        pool={"size": 2, "ready": 2, "warm_hits": 7, "cold_starts": 1},
    )
    Worker.objects.create(
        name="host-b:202", last_seen=ago(60), capacity=8, isolation={"mode": "shared-uid"}
    )


# --- API ----------------------------------------------------------------------------------


def test_staff_get_the_contracts_fields(
    board, staff, make_api_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):  # the token, the queue, the hour, the workers
        response = make_api_client(staff).get("/api/v1/ops")

    assert response.status_code == 200
    data = response.json()
    assert set(data) == CONTRACT
    assert (data["queued"], data["running"]) == (2, 1)
    assert 41 <= data["oldest_queued_seconds"] < 60
    assert data["runs_last_hour"] == {"succeeded": 2, "failed": 2, "cancelled": 1, "timed_out": 1}
    assert data["reaped_last_hour"] == 1
    assert [set(w) for w in data["workers"]] == [{"name", "last_seen", "in_flight", "capacity"}] * 2
    first = data["workers"][0]
    assert (first["name"], first["in_flight"], first["capacity"]) == ("host-a:101", 1, 50)


def test_an_empty_queue_is_zero_seconds_old(staff, make_api_client):
    data = make_api_client(staff).get("/api/v1/ops").json()

    assert data["queued"] == 0 and data["oldest_queued_seconds"] == 0
    assert data["workers"] == [] and data["reaped_last_hour"] == 0


def test_a_user_who_is_not_staff_gets_403_json(user, make_api_client):
    response = make_api_client(user).get("/api/v1/ops")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_anonymous_gets_401(client, db):
    response = client.get("/api/v1/ops")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


# --- the page -----------------------------------------------------------------------------


def test_staff_see_the_board_with_a_stale_worker_standing_out(board, staff, client):
    client.force_login(staff)

    response = client.get("/ops/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="ops-board"' in html and 'hx-trigger="every 3s"' in html
    row_a = html[html.index("host-a:101") : html.index("host-b:202")]
    row_b = html[html.index("host-b:202") :]
    row_b = row_b[: row_b.index("</tr>")]
    assert "live</span>" in row_a and "stale" not in row_a
    assert '<span class="badge error">stale</span>' in row_b
    assert "isolated" in row_a and "shared-uid" in row_b
    assert "2 / 2 ready · 7 warm · 1 cold" in row_a
    assert "not started" in row_b
    assert 'data-field="queued">2<' in html
    assert 'data-field="reaped_last_hour">1<' in html


def test_htmx_polling_renders_only_the_board(board, staff, client):
    client.force_login(staff)

    response = client.get("/ops/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="ops-board"')
    assert "<html" not in html


def test_a_user_who_is_not_staff_gets_the_403_page(user_client):
    response = user_client.get("/ops/")

    assert response.status_code == 403
    assert "text/html" in response["Content-Type"]


def test_anonymous_is_sent_to_log_in(client, db):
    response = client.get("/ops/")

    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_the_admin_index_links_to_the_board(client, staff_user):
    client.force_login(staff_user)

    html = client.get("/admin/").content.decode()

    assert 'href="/ops/"' in html and "Ops board" in html


def test_the_admin_lists_workers(client, staff_user, board):
    client.force_login(staff_user)

    html = client.get("/admin/agents/worker/").content.decode()

    assert "host-a:101" in html and "host-b:202" in html


# --- the registry the workers keep ----------------------------------------------------------


def test_a_running_worker_registers_reports_and_leaves_on_shutdown(
    transactional_db, fake_llm, settings
):
    settings.AGENT_REAP_INTERVAL_SECONDS = 0.2

    with running_worker(concurrency=3, worker_id="ops-host:4242"):
        row = wait_for(lambda: Worker.objects.filter(name="ops-host:4242").first())
        first_seen = row.last_seen
        assert row.capacity == 3 and row.in_flight == 0
        # What the sandbox reports about this host (agents.runtime.sandbox.isolation_state).
        assert row.isolation["mode"] in ("isolated", "shared-uid")
        # Beats on the reaper's clock, turns in flight or not.
        wait_for(lambda: Worker.objects.get(name="ops-host:4242").last_seen > first_seen)
        assert wait_for(lambda: Worker.objects.get(name="ops-host:4242").pool.get("size"))

    assert not Worker.objects.filter(name="ops-host:4242").exists()


class _FakeWorker:
    worker_id = "tick-host:1"
    concurrency = 5
    busy = 2


def test_a_tick_beats_and_forgets_workers_gone_for_an_hour(transactional_db):
    Worker.objects.create(name="gone:1", last_seen=ago(2 * 3600))
    Worker.objects.create(name="silent:1", last_seen=ago(120))

    Reaper(worker=_FakeWorker()).tick()

    row = Worker.objects.get(name="tick-host:1")
    assert (row.capacity, row.in_flight) == (5, 2)
    assert row.is_stale is False
    assert Worker.objects.get(name="silent:1").is_stale is True
    assert not Worker.objects.filter(name="gone:1").exists()


def test_a_reaped_run_counts_as_reaped(db, staff, make_api_client, settings):
    settings.AGENT_RUN_LEASE_SECONDS = 30
    RunFactory(
        status="running", output=None, started_at=ago(90), heartbeat_at=ago(60), worker_id="x:1"
    )

    assert services.runs_reap() == 1

    data = make_api_client(staff).get("/api/v1/ops").json()
    assert data["reaped_last_hour"] == 1
    assert data["runs_last_hour"]["failed"] == 1


def test_a_killed_worker_stands_out_and_its_turn_counts_as_reaped(
    worker_process, staff, make_api_client, client, settings
):
    """Real `run_worker` processes: one killed while it holds a turn, one stopped cleanly."""
    from tests.agents.test_execution import chat, make_agent

    settings.AGENT_REAP_INTERVAL_SECONDS = 0.5  # stale after 1.5 s, as the workers beat
    env = {"AGENT_RUN_LEASE_SECONDS": "3", "AGENT_REAP_INTERVAL_SECONDS": "0.5"}
    doomed = worker_process(env=env)
    doomed_row = Worker.objects.filter(name__endswith=f":{doomed.pid}")
    wait_for(doomed_row.exists, timeout=30)
    owner = UserFactory()
    run = chat(make_agent(owner, "slow-30"), owner)
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "running", timeout=30)

    doomed.kill()
    doomed.wait()
    survivor = worker_process(env=env)
    survivor_row = Worker.objects.filter(name__endswith=f":{survivor.pid}")
    wait_for(lambda: Run.objects.get(pk=run.pk).status == "failed", timeout=30)
    wait_for(survivor_row.exists, timeout=10)

    data = make_api_client(staff).get("/api/v1/ops").json()
    assert data["reaped_last_hour"] == 1 and data["running"] == 0
    assert {w["name"] for w in data["workers"]} == {doomed_row.get().name, survivor_row.get().name}
    client.force_login(staff)
    html = client.get("/ops/").content.decode()
    doomed_html = html[html.index(doomed_row.get().name) :]
    assert '<span class="badge error">stale</span>' in doomed_html[: doomed_html.index("</tr>")]
    survivor_html = html[html.index(survivor_row.get().name) :]
    assert "live</span>" in survivor_html[: survivor_html.index("</tr>")]

    survivor.terminate()  # SIGTERM: a clean shutdown leaves the board
    survivor.wait(timeout=30)
    assert not survivor_row.exists()
    assert doomed_row.exists()  # until pruned, an hour after it was last seen
