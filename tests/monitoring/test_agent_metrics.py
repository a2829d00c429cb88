"""GET /api/v1/agents/{id}/metrics and the agent's Health tab (docs/API.md, Monitoring)."""

import statistics
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Run
from monitoring import health
from tests.factories import AgentFactory, ConversationFactory, ListingFactory, UserFactory
from tests.test_csp import inline_code

FIELDS = {
    "window",
    "runs",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "success_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "tokens_in",
    "tokens_out",
    "series",
}


def add_runs(agent, specs, *, user=None, now=None):
    """Finished runs: each spec is (status, minutes before now, duration_ms[, in, out])."""
    now = now or timezone.now()
    conversation = ConversationFactory(agent=agent, user=user or agent.owner)
    Run.objects.bulk_create(
        Run(
            conversation=conversation,
            agent=agent,
            agent_name=agent.name,
            user=conversation.user,
            message="m",
            status=status,
            finished_at=now - timedelta(minutes=minutes),
            duration_ms=duration,
            input_tokens=tokens[0] if tokens else 10,
            output_tokens=tokens[1] if tokens else 5,
        )
        for status, minutes, duration, *tokens in specs
    )


def percentile_cont(values, p):
    values = sorted(values)
    h = (len(values) - 1) * p
    low = int(h)
    high = min(low + 1, len(values) - 1)
    return values[low] + (h - low) * (values[high] - values[low])


@pytest.fixture
def agent(user):
    return AgentFactory(owner=user)


def test_owner_gets_every_field_of_the_contract(api_client, agent):
    add_runs(agent, [("succeeded", 10, 1000), ("failed", 20, 3000)])

    response = api_client.get(f"/api/v1/agents/{agent.pk}/metrics", {"window": "1h"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= FIELDS
    assert body["window"] == "1h"
    assert len(body["series"]) == 24
    assert {"start", "runs", "failed", "latency_p50_ms"} <= set(body["series"][0])


def test_the_window_defaults_to_24h(api_client, agent):
    assert api_client.get(f"/api/v1/agents/{agent.pk}/metrics").json()["window"] == "24h"


def test_counts_latency_and_tokens_over_the_finished_runs_in_the_window(api_client, agent):
    durations = [100, 200, 300, 400, 500, 600, 700, 800, 900, 5000]
    add_runs(agent, [("succeeded", 30 + i, d, 100, 10) for i, d in enumerate(durations[:7])])
    add_runs(agent, [("failed", 100, durations[7]), ("timed_out", 200, durations[8])])
    add_runs(agent, [("failed", 300, durations[9])])
    add_runs(agent, [("cancelled", 60, 99999)])  # in the counts, not in latency or rate
    add_runs(agent, [("succeeded", 60 * 25, 1)])  # before the window
    add_runs(AgentFactory(), [("succeeded", 5, 1)])  # another agent
    in_flight = ConversationFactory(agent=agent, user=agent.owner)
    Run.objects.create(conversation=in_flight, agent=agent, user=agent.owner, message="m")

    body = api_client.get(f"/api/v1/agents/{agent.pk}/metrics", {"window": "24h"}).json()

    assert (body["runs"], body["succeeded"], body["failed"]) == (11, 7, 2)
    assert (body["cancelled"], body["timed_out"]) == (1, 1)
    assert body["success_rate"] == pytest.approx(7 / 10)
    assert body["latency_p50_ms"] == round(statistics.median(durations))
    assert body["latency_p95_ms"] == round(percentile_cont(durations, 0.95))
    assert body["tokens_in"] == 7 * 100 + 4 * 10
    assert body["tokens_out"] == 7 * 10 + 4 * 5
    assert sum(b["runs"] for b in body["series"]) == 11
    assert sum(b["failed"] for b in body["series"]) == 2
    assert sum(b["timed_out"] for b in body["series"]) == 1


def test_series_has_24_equal_buckets_oldest_first_each_with_its_own_median(agent):
    now = timezone.now()
    # window 24h: bucket i covers [now - 24h + i h, now - 23h + i h)
    add_runs(agent, [("succeeded", 60 * 23 + 30, 100), ("succeeded", 60 * 23 + 20, 300)], now=now)
    add_runs(
        agent, [("failed", 30, 1000), ("succeeded", 10, 2000), ("succeeded", 5, 4000)], now=now
    )

    metrics = health.agent_metrics(agent=agent, window="24h", now=now)

    starts = [b.start for b in metrics.series]
    assert starts[0] == now - timedelta(hours=24)
    assert {b - a for a, b in zip(starts, starts[1:], strict=False)} == {timedelta(hours=1)}
    assert (metrics.series[0].runs, metrics.series[0].latency_p50_ms) == (2, 200)
    assert (metrics.series[23].runs, metrics.series[23].failed) == (3, 1)
    assert metrics.series[23].latency_p50_ms == 2000
    assert all(b.runs == 0 and b.latency_p50_ms is None for b in metrics.series[1:23])


def test_no_runs_is_zeros_and_no_latency(api_client, agent):
    body = api_client.get(f"/api/v1/agents/{agent.pk}/metrics", {"window": "7d"}).json()

    assert (body["runs"], body["success_rate"], body["tokens_in"]) == (0, 0.0, 0)
    assert body["latency_p50_ms"] is None and body["latency_p95_ms"] is None
    assert all(b["runs"] == 0 for b in body["series"])


def test_a_single_run_is_its_own_percentiles(agent):
    add_runs(agent, [("succeeded", 1, 1234)])

    metrics = health.agent_metrics(agent=agent, window="1h")

    assert (metrics.latency_p50_ms, metrics.latency_p95_ms) == (1234, 1234)


@pytest.mark.parametrize("window", ["2h", "1d", "", "24H"])
def test_an_unknown_window_is_a_422(api_client, agent, window):
    response = api_client.get(f"/api/v1/agents/{agent.pk}/metrics", {"window": window})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_a_stranger_gets_404(make_api_client, agent):
    response = make_api_client(UserFactory()).get(f"/api/v1/agents/{agent.pk}/metrics")

    assert response.status_code == 404


def test_a_visitor_of_a_listed_agent_gets_403(make_api_client, agent):
    ListingFactory(agent=agent)

    response = make_api_client(UserFactory()).get(f"/api/v1/agents/{agent.pk}/metrics")

    assert response.status_code == 403


def test_a_renter_gets_403(make_api_client, agent):
    from decimal import Decimal

    from marketplace.services import listing_create, listing_purchase

    renter = UserFactory()
    listing = listing_create(
        agent=agent, seller=agent.owner, listing_type="rent", price=Decimal("5"), rental_days=1
    )
    listing_purchase(listing=listing, buyer=renter)

    response = make_api_client(renter).get(f"/api/v1/agents/{agent.pk}/metrics")

    assert response.status_code == 403


def test_renters_runs_count_in_the_owners_metrics(api_client, agent):
    add_runs(agent, [("succeeded", 5, 100)], user=UserFactory())

    assert api_client.get(f"/api/v1/agents/{agent.pk}/metrics").json()["runs"] == 1


def count_queries(agent, window="30d") -> int:
    with CaptureQueriesContext(connection) as queries:
        health.agent_metrics(agent=agent, window=window)
    return len(queries)


def test_queries_stay_constant_as_runs_grow(agent):
    add_runs(agent, [("succeeded", i % (60 * 24 * 29), 100 + i) for i in range(10)])
    few = count_queries(agent)
    add_runs(agent, [("failed", i % (60 * 24 * 29), 100 + i) for i in range(1000)])

    assert count_queries(agent) == few
    assert few <= 3
    assert health.agent_metrics(agent=agent, window="30d").runs == 1010


# --- the Health tab ----------------------------------------------------------------------


def test_owner_sees_the_health_page_with_its_charts(user_client, agent):
    add_runs(agent, [("succeeded", 10, 1000), ("failed", 20, 3000)])

    response = user_client.get(f"/dashboard/agents/{agent.pk}/health/?window=1h")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="health-chart"') == 2
    assert 'aria-current="page">1h<' in html
    assert "50.0%" in html  # success rate
    assert "p50 2,000 ms" in html
    assert inline_code(html) == []  # the Content-Security-Policy: SVG attributes, no style=


def test_the_health_page_without_runs_says_so(user_client, agent):
    response = user_client.get(f"/dashboard/agents/{agent.pk}/health/")

    assert response.status_code == 200
    assert "No finished runs in this window" in response.content.decode()


def test_an_unknown_window_on_the_page_shows_24h(user_client, agent):
    response = user_client.get(f"/dashboard/agents/{agent.pk}/health/?window=forever")

    assert response.status_code == 200
    assert 'aria-current="page">24h<' in response.content.decode()


def test_htmx_window_switch_renders_only_the_health_region(user_client, agent):
    response = user_client.get(
        f"/dashboard/agents/{agent.pk}/health/?window=7d", headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="agent-health">')
    assert "<h1>" not in html


def test_the_agent_page_links_its_owner_to_health(user_client, agent):
    html = user_client.get(f"/dashboard/agents/{agent.pk}/").content.decode()

    assert f'href="/dashboard/agents/{agent.pk}/health/"' in html


def test_a_stranger_gets_the_404_page(client, agent):
    client.force_login(UserFactory())

    assert client.get(f"/dashboard/agents/{agent.pk}/health/").status_code == 404


def test_a_visitor_of_a_listed_agent_gets_403_page(client, agent):
    ListingFactory(agent=agent)
    client.force_login(UserFactory())

    assert client.get(f"/dashboard/agents/{agent.pk}/health/").status_code == 403


def test_logged_out_visitors_are_sent_to_log_in(client, agent):
    response = client.get(f"/dashboard/agents/{agent.pk}/health/")

    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")
