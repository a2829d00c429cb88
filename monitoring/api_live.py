"""Monitoring for a run's user and an agent's owner (docs/API.md, Monitoring): a run's live
event stream and an agent's health metrics. Mounted by monitoring/api.py."""

from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from agents.models import Agent, Run
from core.schemas import IdPath, errors

from . import health, streams

live_router = Router()

RunId = IdPath()
AgentId = IdPath()

EVENT_STREAM_DOC = {
    "responses": {
        200: {
            "description": (
                "Server-sent events: `step` (id: the step index, data: the step), `status` "
                "(data: {status}), a last `end` (data: the Run), then the stream closes. "
                "Send `Last-Event-ID` to resume after that step."
            ),
            # One server-sent event (how schemathesis and OpenAPI 3.2 read an event stream).
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "event": {"type": "string", "enum": ["step", "status", "end"]},
                            "id": {"type": "string", "description": "A step's index"},
                            "data": {"type": "string", "description": "JSON"},
                            "retry": {"type": "integer"},
                        },
                        "required": ["event", "data"],
                    }
                }
            },
        }
    }
}


@live_router.get(
    "/runs/{run_id}/events",
    response={200: None, **errors(404)},
    summary="Follow a run live (server-sent events)",
    openapi_extra=EVENT_STREAM_DOC,
)
def run_events(request: HttpRequest, run_id: int = RunId):
    run = Run.objects.get_for(request.auth, run_id)
    after = streams.parse_last_event_id(request.headers.get("Last-Event-ID"))
    return streams.event_stream_response(request, run, after=after)


class BucketOut(Schema):
    start: datetime
    runs: int
    failed: int
    timed_out: int
    latency_p50_ms: int | None


class MetricsOut(Schema):
    window: str
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
    series: list[BucketOut]
    start: datetime
    end: datetime
    bucket_seconds: int


@live_router.get(
    "/agents/{agent_id}/metrics",
    response={200: MetricsOut, **errors(403, 404)},
    summary="An agent's health over a window (owner)",
)
def agent_metrics(
    request: HttpRequest,
    agent_id: int = AgentId,
    window: Literal["1h", "24h", "7d", "30d"] = "24h",
):
    agent = Agent.objects.get_for(request.auth, agent_id, need="edit")
    return health.agent_metrics(agent=agent, window=window)
