"""Staff pages and the scrape endpoint: the ops board (`/ops/`) and `/metrics`
(docs/API.md, Monitoring)."""

import secrets

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents.models import Worker
from core.errors import Forbidden
from core.htmx import HtmxHttpRequest

from . import ops, prometheus

# How often the board refreshes itself (htmx polling of its partial).
OPS_REFRESH_SECONDS = 3


@require_GET
@login_required
def ops_board(request: HtmxHttpRequest) -> HttpResponse:
    """The queue, the workers (a stale one stands out), the last hour; refreshes itself."""
    if not request.user.is_staff:
        raise Forbidden("Only staff may see the ops board.")
    context = {
        "ops": ops.ops_snapshot(),
        "stale_after": int(Worker.stale_after_seconds()),
        "refresh_seconds": OPS_REFRESH_SECONDS,
    }
    template = "monitoring/ops.html"
    if request.htmx:
        template += "#ops-board"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


def _metrics_allowed(request: HttpRequest) -> bool:
    """A scraper with `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time;
    no token configured: none accepted), or a signed-in staff member."""
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and given:
        return secrets.compare_digest(given.strip().encode(), token.encode())
    return bool(request.user.is_authenticated and request.user.is_active and request.user.is_staff)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, read from the database at scrape time (monitoring/prometheus.py)."""
    if not _metrics_allowed(request):
        return HttpResponse(
            "Forbidden: send Authorization: Bearer <METRICS_TOKEN>, or sign in as staff.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(prometheus.render(), content_type=prometheus.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
