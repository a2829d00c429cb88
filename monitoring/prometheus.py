"""`GET /metrics`: Prometheus text format, read from the database at scrape time.

Why a custom collector over the database and not prometheus_client's counters in each
process (its multiprocess mode, PROMETHEUS_MULTIPROC_DIR): the events happen in many
processes on many hosts (gunicorn workers finish nothing, `run_worker` processes on any host
finish runs, the web records purchases), and a scrape reaches one web process. Multiprocess
mode only sums processes that share a directory on one host, needs that directory wiped at
each deploy and dead processes' files handled, and would miss runs finalised by the reaper of
a worker on another host. The database already holds every run and purchase, shared by every
process, so each scrape asks it: one aggregate query per family, the histogram from a single
bucketed aggregate (a conditional COUNT per bucket) over finished runs. Any web process
answers the same, and a restart loses nothing.

Counters are totals over the rows that exist: deleting runs (a deleted conversation) lowers
them, which Prometheus treats as a counter reset, as it does a process restart.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from agents.models import Run, Worker
from marketplace.models import Transaction

# Upper bounds (seconds) of the run duration histogram: a turn takes seconds to minutes
# (AGENT_RUN_TIMEOUT_SECONDS is 120 by default).
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
FINAL_STATUSES = (
    Run.Status.SUCCEEDED,
    Run.Status.FAILED,
    Run.Status.CANCELLED,
    Run.Status.TIMED_OUT,
)


class DatabaseCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from self._runs()
        yield from self._duration()
        yield from self._queue()
        yield from self._workers()
        yield from self._purchases()

    def describe(self) -> Iterable[Metric]:
        return []  # no database query when the collector is registered

    def _runs(self) -> Iterable[Metric]:
        counts = Run.objects.aggregate(
            **{status.value: Count("pk", filter=Q(status=status)) for status in FINAL_STATUSES},
            reaped=Count("pk", filter=Q(status=Run.Status.FAILED, error=Run.WORKER_LOST_ERROR)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
        )
        runs = CounterMetricFamily(
            "agentbay_runs", "Runs that reached a final status.", labels=["status"]
        )
        for status in FINAL_STATUSES:
            runs.add_metric([status.value], counts[status.value])
        yield runs
        yield CounterMetricFamily(
            "agentbay_runs_reaped",
            "Runs failed by the reaper after their worker stopped responding.",
            value=counts["reaped"],
        )
        tokens = CounterMetricFamily(
            "agentbay_run_tokens", "Model tokens used by runs.", labels=["direction"]
        )
        tokens.add_metric(["input"], counts["input_tokens"] or 0)
        tokens.add_metric(["output"], counts["output_tokens"] or 0)
        yield tokens

    def _duration(self) -> Iterable[Metric]:
        finished = Run.objects.final().filter(duration_ms__isnull=False)
        row = finished.aggregate(
            **{
                f"le_{index}": Count("pk", filter=Q(duration_ms__lte=int(bound * 1000)))
                for index, bound in enumerate(DURATION_BUCKETS)
            },
            count=Count("pk"),
            total_ms=Sum("duration_ms"),
        )
        buckets = [(_le(bound), row[f"le_{index}"]) for index, bound in enumerate(DURATION_BUCKETS)]
        buckets.append(("+Inf", row["count"]))
        yield HistogramMetricFamily(
            "agentbay_run_duration_seconds",
            "Wall time of finished runs, from claimed (or queued) to final.",
            buckets=buckets,
            sum_value=(row["total_ms"] or 0) / 1000,
        )

    def _queue(self) -> Iterable[Metric]:
        row = Run.objects.in_flight().aggregate(
            queued=Count("pk", filter=Q(status=Run.Status.QUEUED)),
            running=Count("pk", filter=Q(status=Run.Status.RUNNING)),
            oldest=Min("created_at", filter=Q(status=Run.Status.QUEUED)),
        )
        yield GaugeMetricFamily(
            "agentbay_runs_queued", "Runs waiting for a worker.", value=row["queued"]
        )
        yield GaugeMetricFamily(
            "agentbay_runs_running", "Runs a worker is executing.", value=row["running"]
        )
        oldest = row["oldest"]
        age = max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0
        yield GaugeMetricFamily(
            "agentbay_runs_oldest_queued_seconds",
            "Age of the oldest queued run (0 when none waits).",
            value=age,
        )

    def _workers(self) -> Iterable[Metric]:
        workers = list(Worker.objects.values_list("last_seen", "in_flight", "capacity"))
        stale_before = Worker.objects.stale_before()
        live = [w for w in workers if w[0] >= stale_before]
        count = GaugeMetricFamily(
            "agentbay_workers",
            "Registered run_worker processes; stale: no heartbeat lately.",
            labels=["state"],
        )
        count.add_metric(["live"], len(live))
        count.add_metric(["stale"], len(workers) - len(live))
        yield count
        yield GaugeMetricFamily(
            "agentbay_worker_turns_in_flight",
            "Turns executing on live workers.",
            value=sum(w[1] for w in live),
        )
        yield GaugeMetricFamily(
            "agentbay_worker_capacity",
            "Turns live workers can hold at once.",
            value=sum(w[2] for w in live),
        )

    def _purchases(self) -> Iterable[Metric]:
        counts = dict(
            Transaction.objects.values_list("kind").annotate(n=Count("pk")).order_by("kind")
        )
        purchases = CounterMetricFamily(
            "agentbay_purchases",
            "Marketplace transactions: purchases and rentals.",
            labels=["kind"],
        )
        for kind in Transaction.Kind:
            purchases.add_metric([kind.value], counts.get(kind.value, 0))
        yield purchases


def _le(bound: float) -> str:
    return repr(float(bound))


# The classic text format, which every Prometheus version reads (the names here need no
# escaping, so it is also what format 1.0.0 would say).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(DatabaseCollector())


def render() -> bytes:
    """The exposition in the text format (CONTENT_TYPE)."""
    return generate_latest(REGISTRY)
