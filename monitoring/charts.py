"""Geometry for the Health tab's server-side SVG charts (the style of gamification/charts.py).

Templates draw the SVG from these dicts: no chart library, no JavaScript, no inline style
(the CSP). Every chart also has its numbers as a table beside it.
"""

from .health import Bucket

WIDTH = 480
HEIGHT = 120
PAD = 4


def _slot(count: int) -> tuple[float, float]:
    """The width of one bucket's slot and of the bar drawn in it."""
    slot = (WIDTH - 2 * PAD) / max(count, 1)
    return slot, slot * 0.8


def runs_bars(series: list[Bucket]) -> dict:
    """One bar per bucket, its height the runs finished in it; the part that failed or timed
    out is a second bar from the bottom up. The busiest bucket touches the top."""
    peak = max((b.runs for b in series), default=0)
    inner = HEIGHT - 2 * PAD
    slot, width = _slot(len(series))
    bars = []
    for index, bucket in enumerate(series):
        height = bucket.runs / peak * inner if peak else 0
        bad = bucket.failed + bucket.timed_out
        bad_height = bad / peak * inner if peak else 0
        bars.append(
            {
                "x": round(PAD + index * slot + (slot - width) / 2, 1),
                "y": round(PAD + inner - height, 1),
                "height": round(height, 1),
                "bad_y": round(PAD + inner - bad_height, 1),
                "bad_height": round(bad_height, 1),
                "bucket": bucket,
                "bad": bad,
            }
        )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bar_width": round(width, 1),
        "baseline": HEIGHT - PAD,
        "bars": bars,
        "peak": peak,
    }


def latency_line(series: list[Bucket]) -> dict:
    """The median latency per bucket as a line; buckets without runs break it (each unbroken
    stretch is one polyline, a lone point a dot). The slowest bucket touches the top."""
    values = [b.latency_p50_ms for b in series]
    peak = max((v for v in values if v is not None), default=0)
    inner = HEIGHT - 2 * PAD
    slot, _width = _slot(len(series))
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        x = PAD + index * slot + slot / 2
        y = PAD + inner - (value / peak * inner if peak else 0)
        current.append((round(x, 1), round(y, 1)))
    if current:
        segments.append(current)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "baseline": HEIGHT - PAD,
        "lines": [" ".join(f"{x},{y}" for x, y in seg) for seg in segments if len(seg) > 1],
        "dots": [seg[0] for seg in segments if len(seg) == 1],
        "peak": peak,
        "points": sum(len(seg) for seg in segments),
    }
