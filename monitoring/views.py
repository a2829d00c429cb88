"""The agent page's Health tab (the owner's view of monitoring/health.py). The ops board's
pages live in views_ops.py."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.http import AuthedHttpRequest
from agents.models import Agent

from . import charts, health


@require_GET
@login_required
def agent_health(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = Agent.objects.get_for(request.user, pk, need="edit")
    window = request.GET.get("window", health.DEFAULT_WINDOW)
    if window not in health.WINDOWS:
        window = health.DEFAULT_WINDOW
    metrics = health.agent_metrics(agent=agent, window=window)
    template = "monitoring/agent_health.html"
    if request.htmx:
        template += "#agent-health"
    return render(
        request,
        template,
        {
            "agent": agent,
            "metrics": metrics,
            "windows": list(health.WINDOWS),
            "bars": charts.runs_bars(metrics.series),
            "latency": charts.latency_line(metrics.series),
            "success_percent": round(metrics.success_rate * 100, 1),
            "counted": metrics.succeeded + metrics.failed + metrics.timed_out,
            "bucket_label": _duration(metrics.bucket_seconds),
        },
    )


def _duration(seconds: int) -> str:
    """150 → "2.5 minutes", 3600 → "1 hour", 25200 → "7 hours"."""
    if seconds < 3600:
        minutes = seconds / 60
        return f"{minutes:g} minute{'' if minutes == 1 else 's'}"
    hours = seconds / 3600
    return f"{hours:g} hour{'' if hours == 1 else 's'}"
