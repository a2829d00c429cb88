"""`GET /metrics` (docs/API.md, Monitoring): Prometheus text format from the database, for a
scraper's bearer token or a staff session."""

from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agents.models import Run, Worker
from marketplace.models import Transaction
from tests.factories import ListingFactory, RunFactory, UserFactory

TOKEN = "scrape-me-0123456789"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def samples(response) -> dict[tuple[str, tuple], float]:
    families = text_string_to_metric_families(response.content.decode())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def scrape(client, token=TOKEN):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"})


def test_a_scraper_with_the_token_reads_every_family(client, db, token):
    for duration_ms in (400, 900, 3000, 3000, 200_000):
        RunFactory(status="succeeded", duration_ms=duration_ms)
    RunFactory(status="failed", duration_ms=700, error=Run.WORKER_LOST_ERROR)
    RunFactory(status="timed_out", duration_ms=120_000)
    RunFactory(status="cancelled", duration_ms=None)
    RunFactory(status="queued", output=None)
    RunFactory(status="queued", output=None)
    RunFactory(status="running", output=None)
    listing = ListingFactory()
    for kind in ("purchase", "rental", "rental"):
        Transaction.objects.create(
            buyer=UserFactory(), listing=listing, kind=kind, amount=Decimal("5.00")
        )
    Worker.objects.create(name="w:1", capacity=10, in_flight=2)

    response = scrape(client)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(response)
    assert got[("agentbay_runs_total", (("status", "succeeded"),))] == 5
    assert got[("agentbay_runs_total", (("status", "failed"),))] == 1
    assert got[("agentbay_runs_total", (("status", "timed_out"),))] == 1
    assert got[("agentbay_runs_total", (("status", "cancelled"),))] == 1
    assert got[("agentbay_runs_reaped_total", ())] == 1
    assert got[("agentbay_runs_queued", ())] == 2
    assert got[("agentbay_runs_running", ())] == 1
    assert got[("agentbay_purchases_total", (("kind", "purchase"),))] == 1
    assert got[("agentbay_purchases_total", (("kind", "rental"),))] == 2
    assert got[("agentbay_workers", (("state", "live"),))] == 1
    assert got[("agentbay_worker_capacity", ())] == 10
    # Cumulative buckets over the 7 finished runs with a duration.
    histogram = "agentbay_run_duration_seconds"
    assert got[(f"{histogram}_bucket", (("le", "0.5"),))] == 1
    assert got[(f"{histogram}_bucket", (("le", "1.0"),))] == 3
    assert got[(f"{histogram}_bucket", (("le", "5.0"),))] == 5
    assert got[(f"{histogram}_bucket", (("le", "120.0"),))] == 6
    assert got[(f"{histogram}_bucket", (("le", "300.0"),))] == 7
    assert got[(f"{histogram}_bucket", (("le", "+Inf"),))] == 7
    assert got[(f"{histogram}_count", ())] == 7
    assert got[(f"{histogram}_sum", ())] == pytest.approx(328.0)


def test_an_empty_database_scrapes_as_zeros(client, db, token, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):  # one aggregate per family group
        got = samples(scrape(client))

    assert got[("agentbay_runs_total", (("status", "succeeded"),))] == 0
    assert got[("agentbay_runs_queued", ())] == 0
    assert got[("agentbay_run_duration_seconds_count", ())] == 0
    assert got[("agentbay_purchases_total", (("kind", "purchase"),))] == 0


def test_a_staff_session_may_read_it(client, staff_user):
    client.force_login(staff_user)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert b"agentbay_runs_queued" in response.content


@pytest.mark.parametrize("sent", ["wrong-token", "", TOKEN[:-1]])
def test_a_wrong_or_missing_token_is_403(client, db, token, sent):
    headers = {"Authorization": f"Bearer {sent}"} if sent else {}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 403
    assert b"agentbay_" not in response.content


def test_without_a_configured_token_no_bearer_is_accepted(client, db, settings):
    settings.METRICS_TOKEN = ""

    assert scrape(client, token="").status_code == 403
    assert scrape(client, token="anything").status_code == 403


def test_a_signed_in_user_who_is_not_staff_is_403(user_client):
    assert user_client.get("/metrics").status_code == 403
