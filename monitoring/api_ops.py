"""Monitoring for staff and for a run's trace (docs/API.md, Monitoring): the ops board's
figures and a run's OpenTelemetry trace. Mounted by monitoring/api.py."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from agents.models import Run
from core.errors import Forbidden
from core.schemas import ErrorOut, IdPath, errors

from . import ops, tracing

ops_router = Router()

RunId = IdPath()


class OpsWorkerOut(Schema):
    name: str
    last_seen: datetime
    in_flight: int
    capacity: int


class OpsRunsOut(Schema):
    succeeded: int
    failed: int
    cancelled: int
    timed_out: int


class OpsOut(Schema):
    queued: int
    running: int
    oldest_queued_seconds: float
    workers: list[OpsWorkerOut]
    runs_last_hour: OpsRunsOut
    reaped_last_hour: int


@ops_router.get(
    "/ops",
    response={200: OpsOut, 401: ErrorOut, 403: ErrorOut},
    summary="The ops board: queue, workers, the last hour (staff)",
)
def ops_board(request: HttpRequest):
    if not request.auth.is_staff:
        raise Forbidden("Only staff may see the ops board.")
    return ops.ops_snapshot().as_contract()


@ops_router.get(
    "/runs/{run_id}/trace",
    response={200: dict[str, Any], **errors(404)},
    summary="A run's trace as OTLP JSON (OpenTelemetry)",
)
def run_trace(request: HttpRequest, run_id: int = RunId):
    run = Run.objects.select_related("agent").get_for(request.auth, run_id)
    return tracing.run_trace_json(run)
