"""Traces (docs/API.md, Monitoring): every finished run exported over OTLP/HTTP to a real
(local) receiver, a dead collector that costs nothing but one log line, the same trace as
OTLP JSON from `GET /api/v1/runs/{id}/trace`, and request → task → run in one trace."""

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from agents import services
from agents.models import Run
from agents.validation import AgentConfig
from monitoring import tracing
from tests.agents.conftest import running_worker, wait_final, wait_for
from tests.factories import RunFactory, UserFactory


class OtlpReceiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces, protobuf in, decoded and kept."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _OtlpHandler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[tuple[dict, object]]:
        """(resource attributes, span) for every span received."""
        with self.lock:
            requests = list(self.requests)
        return [
            ({a.key: _value(a.value) for a in rs.resource.attributes}, span)
            for request in requests
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]


class _OtlpHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.server.lock:
            self.server.requests.append(request)
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def _value(any_value):
    return (
        getattr(any_value, any_value.WhichOneof("value")) if any_value.WhichOneof("value") else None
    )


def attributes(span) -> dict:
    return {a.key: _value(a.value) for a in span.attributes}


@pytest.fixture
def otlp(monkeypatch):
    receiver = OtlpReceiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    yield receiver
    tracing.flush()
    receiver.shutdown()
    receiver.server_close()


@pytest.fixture
def owner(transactional_db):
    return UserFactory()


def make_agent(owner, model: str):
    agent = services.agent_create(
        owner=owner, config=AgentConfig(name="Tracer", model=f"openai:{model}")
    )
    return services.agent_start(agent=agent, by=owner)


def chat(agent, user, message="What is 6 times 7?") -> Run:
    return services.run_start(agent=agent, user=user, message=message)


def test_a_finished_run_is_exported_as_an_invoke_agent_trace(otlp, owner, fake_llm):
    with running_worker():
        run = wait_final(chat(make_agent(owner, "two-step"), owner).pk)
        assert run.status == "succeeded", run.error
        received = wait_for(lambda: len(otlp.spans()) >= 5 and otlp.spans())

    resource, root = next((r, s) for r, s in received if s.name.startswith("invoke_agent"))
    assert resource["service.name"] == "agentbay"
    assert root.name == "invoke_agent Tracer"
    assert (
        attributes(root).items()
        >= {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": str(run.agent_id),
            "gen_ai.agent.name": "Tracer",
            "gen_ai.request.model": "two-step",
            "gen_ai.provider.name": "openai",
            "gen_ai.conversation.id": str(run.conversation_id),
            "gen_ai.usage.input_tokens": 40,
            "gen_ai.usage.output_tokens": 16,
        }.items()
    )
    assert root.parent_span_id == b""
    # Timestamps are the stored run's.
    assert root.start_time_unix_nano == int(run.started_at.timestamp() * 1e6) * 1000
    assert root.end_time_unix_nano == int(run.finished_at.timestamp() * 1e6) * 1000

    steps = [s for _, s in received if s.parent_span_id == root.span_id]
    assert [s.name for s in steps] == ["chat two-step", "chat two-step"]
    assert [attributes(s)["agentbay.step.index"] for s in steps] == [1, 2]
    stored = list(run.steps.order_by("index"))
    for span, step in zip(steps, stored, strict=True):
        assert span.trace_id == root.trace_id
        attrs = attributes(span)
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.usage.input_tokens"] == step.input_tokens
        assert attrs["gen_ai.usage.output_tokens"] == step.output_tokens
        assert attrs["gen_ai.conversation.id"] == str(run.conversation_id)
        assert root.start_time_unix_nano <= span.start_time_unix_nano <= span.end_time_unix_nano

    tools = {
        step_index: [s for _, s in received if s.parent_span_id == span.span_id]
        for step_index, span in enumerate(steps, start=1)
    }
    assert [s.name for s in tools[1]] == ["execute_tool python_interpreter"]
    assert [s.name for s in tools[2]] == ["execute_tool final_answer"]
    final = attributes(tools[2][0])
    assert final["gen_ai.operation.name"] == "execute_tool"
    assert final["gen_ai.tool.name"] == "final_answer"
    assert len(received) == 5  # exported once


def test_the_downloaded_trace_is_the_exported_one(otlp, owner, fake_llm, make_api_client):
    with running_worker():
        run = wait_final(chat(make_agent(owner, "two-step"), owner).pk)
        received = wait_for(lambda: len(otlp.spans()) >= 5 and otlp.spans())

    data = make_api_client(owner).get(f"/api/v1/runs/{run.pk}/trace").json()

    downloaded = {
        (span["traceId"], span["spanId"], span["name"])
        for rs in data["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    }
    exported = {(s.trace_id.hex(), s.span_id.hex(), s.name) for _, s in received}
    assert downloaded == exported


def test_a_dead_collector_fails_no_turn_and_is_logged_once(owner, fake_llm, monkeypatch, caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setattr(tracing, "_THROTTLE", tracing._Throttle())  # no report this minute yet
    caplog.set_level(logging.WARNING)
    agent = make_agent(owner, "echo")

    with running_worker():
        for message in ("one", "two", "three"):
            run = wait_final(chat(agent, owner, message).pk)
            assert run.status == "succeeded" and run.output == message
            tracing.flush()  # each run's spans in a batch of their own: three failed exports

    failures = [r for r in caplog.records if r.name.startswith(("monitoring", "opentelemetry"))]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].name == "monitoring.tracing"
    assert f"127.0.0.1:{port}" in failures[0].getMessage()


def test_nothing_is_exported_without_an_endpoint(owner, fake_llm, monkeypatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    assert tracing.processor() is None
    with running_worker():
        run = wait_final(chat(make_agent(owner, "echo"), owner).pk)

    assert run.status == "succeeded"


# --- GET /api/v1/runs/{id}/trace --------------------------------------------------------------


@pytest.fixture
def finished_run(db):
    from django.utils import timezone

    run = RunFactory(status="failed", error="boom", input_tokens=7, output_tokens=3)
    Run.objects.filter(pk=run.pk).update(started_at=run.created_at, finished_at=timezone.now())
    run.refresh_from_db()
    services.run_step_record(
        run=run, index=1, kind="action", code="undefined()", error="boom", duration_ms=5
    )
    return run


def test_the_runs_user_gets_its_trace_as_otlp_json(finished_run, make_api_client):
    response = make_api_client(finished_run.user).get(f"/api/v1/runs/{finished_run.pk}/trace")

    assert response.status_code == 200
    data = response.json()
    (resource_spans,) = data["resourceSpans"]
    resource = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
    assert resource["service.name"] == {"stringValue": "agentbay"}
    spans = resource_spans["scopeSpans"][0]["spans"]
    root, step, tool = spans
    assert root["name"] == f"invoke_agent {finished_run.agent_name}"
    assert len(root["traceId"]) == 32 and len(root["spanId"]) == 16
    assert "parentSpanId" not in root
    assert step["parentSpanId"] == root["spanId"] and tool["parentSpanId"] == step["spanId"]
    assert root["status"]["code"] == 2  # ERROR
    attrs = {a["key"]: a["value"] for a in root["attributes"]}
    assert attrs["gen_ai.operation.name"] == {"stringValue": "invoke_agent"}
    assert attrs["gen_ai.usage.input_tokens"] == {"intValue": "7"}
    assert attrs["gen_ai.agent.name"] == {"stringValue": finished_run.agent_name}
    assert int(root["startTimeUnixNano"]) <= int(root["endTimeUnixNano"])
    assert tool["name"] == "execute_tool python_interpreter"


def test_a_run_of_a_deleted_agent_still_has_a_trace(finished_run, make_api_client):
    Run.objects.filter(pk=finished_run.pk).update(agent=None)

    response = make_api_client(finished_run.user).get(f"/api/v1/runs/{finished_run.pk}/trace")

    assert response.status_code == 200


def test_a_stranger_gets_404(finished_run, make_api_client):
    response = make_api_client(UserFactory()).get(f"/api/v1/runs/{finished_run.pk}/trace")

    assert response.status_code == 404


def test_anonymous_gets_401(finished_run, client):
    assert client.get(f"/api/v1/runs/{finished_run.pk}/trace").status_code == 401


def test_the_run_page_offers_the_trace(finished_run, client):
    client.force_login(finished_run.user)

    html = client.get(f"/dashboard/runs/{finished_run.pk}/").content.decode()

    assert f'href="/api/v1/runs/{finished_run.pk}/trace"' in html
    assert "Download trace" in html


# --- request → task → run ---------------------------------------------------------------------


def test_a_traced_request_and_its_runs_trace_are_one_trace(otlp, owner, fake_llm, make_api_client):
    """With the web's Django instrumentation on, the chat request's span is the parent of the
    run's invoke_agent span, across the task queue and the worker."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    web_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(web_spans))
    agent = make_agent(owner, "echo")
    incoming_trace, incoming_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    DjangoInstrumentor().instrument(tracer_provider=provider)
    try:
        api = make_api_client(owner)  # a new client: its handler loads the middleware now
        api.headers["traceparent"] = f"00-{incoming_trace}-{incoming_span}-01"
        response = api.post(f"/api/v1/agents/{agent.pk}/chat", {"message": "traced"})
    finally:
        DjangoInstrumentor().uninstrument()
    assert response.status_code == 202
    (server,) = [s for s in web_spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert format(server.context.trace_id, "032x") == incoming_trace
    run = Run.objects.get(pk=response.json()["id"])
    assert run.traceparent == f"00-{incoming_trace}-{server.context.span_id:016x}-01"

    with running_worker():
        assert wait_final(run.pk).status == "succeeded"
        received = wait_for(lambda: otlp.spans())

    root = next(s for _, s in received if s.name.startswith("invoke_agent"))
    assert root.trace_id.hex() == incoming_trace
    assert root.parent_span_id.hex() == f"{server.context.span_id:016x}"


def test_an_untraced_request_stores_no_trace_context(owner, fake_llm, make_api_client):
    agent = make_agent(owner, "echo")

    response = make_api_client(owner).post(f"/api/v1/agents/{agent.pk}/chat", {"message": "plain"})

    assert Run.objects.get(pk=response.json()["id"]).traceparent == ""


def test_an_overflowing_export_queue_is_logged_once(finished_run, monkeypatch, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "1")
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1")
    monkeypatch.setattr(tracing, "_DROPS", tracing._Throttle())
    caplog.set_level(logging.WARNING)

    for _ in range(3):
        tracing.export_run(finished_run.pk)  # 3 spans each, into a queue of one

    drops = [r for r in caplog.records if "queue is full" in r.getMessage()]
    assert len(drops) == 1
    assert not [r for r in caplog.records if r.getMessage().startswith("Queue full")]
