"""Numbers for the small server-rendered SVG pictures (success bar, runs sparkline).

Templates draw the SVG from these dicts; no chart library and no JavaScript. Every picture
also has its numbers as text beside it, so nothing depends on seeing the shape.
"""

from datetime import date

SPARK_WIDTH = 140
SPARK_HEIGHT = 32
SPARK_PAD = 2


def success_bar(*, succeeded: int, failed: int) -> dict:
    """Widths (percent of 100) of the succeeded and failed parts of one bar."""
    total = succeeded + failed
    ok = round(succeeded * 100 / total, 1) if total else 0.0
    return {
        "succeeded": succeeded,
        "failed": failed,
        "total": total,
        "ok_width": ok,
        "failed_width": round(100 - ok, 1) if total else 0.0,
        "percent": ok,
    }


def sparkline(series: list[tuple[date, int]]) -> dict:
    """A polyline of counts per day, scaled to the box; the highest day touches the top."""
    counts = [count for _day, count in series]
    peak = max(counts, default=0)
    inner_w = SPARK_WIDTH - 2 * SPARK_PAD
    inner_h = SPARK_HEIGHT - 2 * SPARK_PAD
    step = inner_w / max(len(counts) - 1, 1)
    points = []
    for index, count in enumerate(counts):
        x = SPARK_PAD + index * step
        y = SPARK_PAD + inner_h - (count / peak * inner_h if peak else 0)
        points.append((round(x, 1), round(y, 1)))
    return {
        "width": SPARK_WIDTH,
        "height": SPARK_HEIGHT,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "last": points[-1] if points else None,
        "total": sum(counts),
        "peak": peak,
        "days": len(counts),
        "first_day": series[0][0] if series else None,
        "last_day": series[-1][0] if series else None,
        "series": series,
    }
