"""An agent's health for its owner: `GET /api/v1/agents/{id}/metrics` and the Health tab.

What is counted: the agent's runs that *finished* inside the window (`finished_at` in
[now − window, now)), whoever started them; in-flight runs are not counted yet. Latency is a
run's `duration_ms` over the runs that ended on their own (succeeded, failed, timed out):
a cancelled run's duration says how long its user waited before stopping it, not how fast
the agent is. `success_rate` is succeeded / (succeeded + failed + timed out), cancelled runs
left out as in the agent's stats (0 when there is none). The series splits the window into
24 equal buckets, oldest first.

Everything is aggregated in the database with a fixed number of queries, whatever the number
of runs: on PostgreSQL two (totals with `percentile_cont`, then the buckets grouped), on
SQLite three (SQLite has no percentile aggregate: a window-function query ranks the
durations within each bucket and within the window and returns only the rows percentile_cont
would interpolate between, a few per bucket; the interpolation is done here). All of them
read only the covering index `Run(agent, finished_at, status, duration_ms, input_tokens,
output_tokens)`. `bench/agent_metrics.py` times them over 100,000 runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Case, Count, FloatField, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent, Run

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_WINDOW = "24h"
BUCKETS = 24

S = Run.Status
# Runs whose duration is the agent's latency (see the module docstring).
TIMED = Q(duration_ms__isnull=False) & Q(status__in=[S.SUCCEEDED, S.FAILED, S.TIMED_OUT])


class PercentileCont(Aggregate):
    """PostgreSQL's `percentile_cont(p) WITHIN GROUP (ORDER BY expr)`."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=float(percentile), **extra)


@dataclass(frozen=True)
class Bucket:
    start: datetime
    runs: int = 0
    failed: int = 0
    timed_out: int = 0
    latency_p50_ms: int | None = None


@dataclass(frozen=True)
class AgentMetrics:
    window: str
    start: datetime
    end: datetime
    bucket_seconds: int
    runs: int
    succeeded: int
    failed: int
    cancelled: int
    timed_out: int
    success_rate: float
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    tokens_in: int
    tokens_out: int
    series: list[Bucket] = field(default_factory=list)


def agent_metrics(*, agent: Agent, window: str = DEFAULT_WINDOW, now=None) -> AgentMetrics:
    """The agent's health over `window` (a key of WINDOWS), ending `now`."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {tuple(WINDOWS)}, not {window!r}")
    end = now or timezone.now()
    start = end - WINDOWS[window]
    step = WINDOWS[window] / BUCKETS
    # Counts name `status`, never `id`: every column read is in the covering index.
    runs = Run.objects.filter(agent=agent, finished_at__gte=start, finished_at__lt=end).order_by()
    postgres = connection.vendor == "postgresql"

    totals = runs.aggregate(
        runs=Count("*"),
        succeeded=Count("status", filter=Q(status=S.SUCCEEDED)),
        failed=Count("status", filter=Q(status=S.FAILED)),
        cancelled=Count("status", filter=Q(status=S.CANCELLED)),
        timed_out=Count("status", filter=Q(status=S.TIMED_OUT)),
        tokens_in=Coalesce(Sum("input_tokens"), 0),
        tokens_out=Coalesce(Sum("output_tokens"), 0),
        **(
            {
                "p50": PercentileCont("duration_ms", 0.5, filter=TIMED),
                "p95": PercentileCont("duration_ms", 0.95, filter=TIMED),
            }
            if postgres
            else {}
        ),
    )
    bucket = Case(
        *[When(finished_at__lt=start + step * (i + 1), then=Value(i)) for i in range(BUCKETS - 1)],
        default=Value(BUCKETS - 1),
        output_field=IntegerField(),
    )
    grouped = (
        runs.annotate(bucket=bucket)
        .values("bucket")
        .annotate(
            n=Count("*"),
            failed=Count("status", filter=Q(status=S.FAILED)),
            timed_out=Count("status", filter=Q(status=S.TIMED_OUT)),
            **({"p50": PercentileCont("duration_ms", 0.5, filter=TIMED)} if postgres else {}),
        )
        .order_by("bucket")
    )
    rows = {row["bucket"]: row for row in grouped}

    if postgres:
        p50, p95 = totals["p50"], totals["p95"]
        bucket_p50 = {key: row["p50"] for key, row in rows.items()}
    else:
        ranked = _percentiles_by_ranking(runs.filter(TIMED).annotate(bucket=bucket))
        p50, p95 = ranked.get((-1, 0.5)), ranked.get((-1, 0.95))
        bucket_p50 = {key: value for (key, p), value in ranked.items() if p == 0.5 and key >= 0}

    counted = totals["succeeded"] + totals["failed"] + totals["timed_out"]
    series = [
        Bucket(
            start=start + step * i,
            runs=rows[i]["n"] if i in rows else 0,
            failed=rows[i]["failed"] if i in rows else 0,
            timed_out=rows[i]["timed_out"] if i in rows else 0,
            latency_p50_ms=_ms(bucket_p50.get(i)),
        )
        for i in range(BUCKETS)
    ]
    return AgentMetrics(
        window=window,
        start=start,
        end=end,
        bucket_seconds=int(step.total_seconds()),
        runs=totals["runs"],
        succeeded=totals["succeeded"],
        failed=totals["failed"],
        cancelled=totals["cancelled"],
        timed_out=totals["timed_out"],
        success_rate=round(totals["succeeded"] / counted, 4) if counted else 0.0,
        latency_p50_ms=_ms(p50),
        latency_p95_ms=_ms(p95),
        tokens_in=totals["tokens_in"],
        tokens_out=totals["tokens_out"],
        series=series,
    )


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


WINDOW_PERCENTILES = (0.5, 0.95)


def _percentiles_by_ranking(timed_runs) -> dict[tuple[int, float], float]:
    """percentile_cont of duration_ms per bucket (p50; key: the bucket) and over the whole
    window (p50 and p95; key: -1), for a database without a percentile aggregate. One scan
    ranks each duration within its bucket and within the window (window functions) and
    returns only the ranks percentile_cont interpolates between (h = p·(n − 1): ranks ⌊h⌋
    and ⌊h⌋ + 1, 0-based), at most 2 per bucket and 4 for the window. Keys: (group, p)."""
    inner, params = timed_runs.values("bucket", "duration_ms").query.sql_with_params()

    def near(rank: str, size: str, p: float) -> str:
        low = f"CAST(({size} - 1) * {p} AS INTEGER)"
        return f"{rank} = {low} OR {rank} = {low} + 1"

    wanted = " OR ".join(
        [near("rb", "nb", 0.5), *(near("ra", "na", p) for p in WINDOW_PERCENTILES)]
    )
    sql = f"""
        SELECT bucket, rb, nb, ra, na, duration_ms FROM (
            SELECT t.bucket, t.duration_ms,
                   ROW_NUMBER() OVER (PARTITION BY t.bucket ORDER BY t.duration_ms) - 1 AS rb,
                   COUNT(*) OVER (PARTITION BY t.bucket) AS nb,
                   ROW_NUMBER() OVER (ORDER BY t.duration_ms) - 1 AS ra,
                   COUNT(*) OVER () AS na
            FROM ({inner}) t
        ) ranked
        WHERE {wanted}
    """  # noqa: S608 - only our own compiled query and constants are interpolated
    values: dict[int, dict[int, float]] = {}
    sizes: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, rb, nb, ra, na, duration in cursor.fetchall():
            values.setdefault(bucket, {})[rb] = float(duration)
            sizes[bucket] = nb
            values.setdefault(-1, {})[ra] = float(duration)
            sizes[-1] = na
    result = {}
    for group, size in sizes.items():
        for p in WINDOW_PERCENTILES if group == -1 else (0.5,):
            h = (size - 1) * p
            low = math.floor(h)
            ranks = values[group]
            if low not in ranks:  # a row kept for the other ranking only
                continue
            high = ranks.get(low + 1, ranks[low])
            result[(group, p)] = ranks[low] + (h - low) * (high - ranks[low])
    return result
