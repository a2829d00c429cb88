"""OpenTelemetry traces of runs (docs/API.md, Monitoring: Traces).

One trace per run, built from what the database stored (the run and its steps), never from
live instrumentation of the turn: the same function serves the exporter (every finished run,
when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set) and
``GET /api/v1/runs/{id}/trace`` (OTLP JSON, exporter or not), so both show the same trace:

    invoke_agent <agent name>          the run: started → finished, its token totals
      chat <model>                     one per stored step (planning or action): its tokens
        execute_tool <tool>            the tools the step's code called (final_answer, the
                                       agent's tools), or python_interpreter when it called none

Attributes follow the OpenTelemetry GenAI conventions (``gen_ai.operation.name``,
``gen_ai.agent.id``/``name``, ``gen_ai.request.model``, ``gen_ai.provider.name``,
``gen_ai.conversation.id``, ``gen_ai.usage.input_tokens``/``output_tokens``,
``gen_ai.tool.name``); message contents are not recorded. Ids are derived from the run, so the
exported and the downloaded trace are the same; a run queued by a traced request
(``Run.traceparent``) continues that request's trace under its span.

How it hooks in: agents sends ``run_finished`` inside the run's transaction; our receiver
(monitoring/receivers.py) asks for ``export_run`` on commit, which builds the spans and hands
them to a ``BatchSpanProcessor``: the export happens in the processor's thread, so a turn never
waits for the collector, and a collector that is down costs a log line at most once a minute
(``_Throttled``), never a failed turn.

The standard variables apply (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_EXPORTER_OTLP_TIMEOUT``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``,
``OTEL_TRACES_EXPORTER=none``). With the same variables set, ``instrument_django`` (called by
MonitoringConfig.ready) traces the web's requests too (opentelemetry-instrumentation-django).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from agents.models import Run, RunStep

logger = logging.getLogger(__name__)

SCOPE = InstrumentationScope("agentbay.monitoring")
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# The OTLP/HTTP exporter's logger: it logs every failed batch (and every retry) itself; the
# batch processor's logs every span it drops when its queue is full (a collector down for long).
EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
PROCESSOR_LOGGER = "opentelemetry.sdk._shared_internal"
LOG_EVERY = 60.0  # seconds between two reports of a failing export
PROVIDERS = {"openai": "openai", "hf": "huggingface", "litellm": "litellm"}
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


# --- building a run's trace ---------------------------------------------------------------


def _id(bits: int, *parts: object) -> int:
    digest = hashlib.sha256(":".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[: bits // 8], "big") or 1  # an all-zero id is invalid


def _remote_parent(run: Run) -> SpanContext | None:
    """The span of the request that queued the run, from its stored W3C traceparent."""
    match = _TRACEPARENT.match(run.traceparent or "")
    if match is None:
        return None
    trace_id, span_id = int(match.group(1), 16), int(match.group(2), 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match.group(3), 16))
    )


def _ns(moment: datetime | float) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp() * 1_000_000) * 1000
    return int(moment * 1_000_000_000)


def _model(run: Run) -> tuple[str | None, str | None]:
    """(gen_ai.provider.name, gen_ai.request.model) from the agent's model string."""
    value = (run.agent.model if run.agent_id and run.agent else "") or ""
    prefix, sep, rest = value.partition(":")
    if sep and "/" not in prefix:
        return PROVIDERS.get(prefix, prefix), rest or None
    return ("huggingface" if value else None), value or None


def _step_window(step: RunStep) -> tuple[int, int]:
    """A step's start and end: smolagents' own timing when stored, else back from the row's
    creation (stored as the step completed) by its duration."""
    timing = (step.memory or {}).get("timing") or {}
    start, end = timing.get("start_time"), timing.get("end_time")
    if isinstance(start, int | float) and isinstance(end, int | float) and end >= start:
        return _ns(start), _ns(end)
    finished = step.created_at or timezone.now()
    return _ns(finished - timedelta(milliseconds=step.duration_ms)), _ns(finished)


def _tools_called(step: RunStep, names: Iterable[str]) -> list[str]:
    """The tools a step's code calls, in the order of their first call."""
    if not step.code:
        return []
    found = []
    for name in names:
        match = re.search(rf"(?<![\w.]){re.escape(name)}\s*\(", step.code)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)] or ["python_interpreter"]


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None}


def run_spans(run: Run, steps: Sequence[RunStep], resource: Resource | None = None) -> list[Any]:
    """The run's trace as SDK spans (ReadableSpan), root first."""
    resource = resource or service_resource()
    parent = _remote_parent(run)
    trace_id = parent.trace_id if parent else _id(128, "agentbay-run", run.pk, run.created_at)
    flags = TraceFlags(TraceFlags.SAMPLED)
    provider, model = _model(run)
    common = _clean(
        {
            "gen_ai.agent.id": str(run.agent_id) if run.agent_id else None,
            "gen_ai.agent.name": run.agent_name or None,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.conversation.id": str(run.conversation_id),
        }
    )
    now = timezone.now()
    start = _ns(run.started_at or run.created_at)
    end = max(start, _ns(run.finished_at or now))
    status = Status(StatusCode.UNSET)
    if run.status == Run.Status.SUCCEEDED:
        status = Status(StatusCode.OK)
    elif run.status in (Run.Status.FAILED, Run.Status.TIMED_OUT):
        status = Status(StatusCode.ERROR, (run.error or run.status)[:500])
    root_context = SpanContext(trace_id, _id(64, trace_id, "run", run.pk), False, flags)
    root = ReadableSpan(
        name=f"invoke_agent {run.agent_name}".strip(),
        context=root_context,
        parent=parent,
        resource=resource,
        attributes=_clean(
            {
                "gen_ai.operation.name": "invoke_agent",
                **common,
                "gen_ai.usage.input_tokens": run.input_tokens,
                "gen_ai.usage.output_tokens": run.output_tokens,
                "error.type": run.status if status.status_code == StatusCode.ERROR else None,
                "agentbay.run.id": run.pk,
                "agentbay.run.status": run.status,
                "agentbay.run.steps": len(steps),
            }
        ),
        kind=SpanKind.INTERNAL,
        status=status,
        start_time=start,
        end_time=end,
        instrumentation_scope=SCOPE,
    )
    spans = [root]
    tool_names = [*(run.agent.tools if run.agent_id and run.agent else []), "final_answer"]
    for step in steps:
        step_start, step_end = _step_window(step)
        step_context = SpanContext(trace_id, _id(64, trace_id, "step", step.index), False, flags)
        step_status = Status(StatusCode.UNSET)
        if step.error:
            step_status = Status(StatusCode.ERROR, step.error[:500])
        spans.append(
            ReadableSpan(
                name=f"chat {model}" if model else "chat",
                context=step_context,
                parent=root_context,
                resource=resource,
                attributes=_clean(
                    {
                        "gen_ai.operation.name": "chat",
                        **common,
                        "gen_ai.usage.input_tokens": step.input_tokens,
                        "gen_ai.usage.output_tokens": step.output_tokens,
                        "agentbay.step.index": step.index,
                        "agentbay.step.kind": step.kind,
                    }
                ),
                kind=SpanKind.CLIENT,
                status=step_status,
                start_time=step_start,
                end_time=step_end,
                instrumentation_scope=SCOPE,
            )
        )
        for number, tool in enumerate(_tools_called(step, tool_names)):
            spans.append(
                ReadableSpan(
                    name=f"execute_tool {tool}",
                    context=SpanContext(
                        trace_id, _id(64, trace_id, "tool", step.index, number), False, flags
                    ),
                    parent=step_context,
                    resource=resource,
                    attributes=_clean(
                        {
                            "gen_ai.operation.name": "execute_tool",
                            **common,
                            "gen_ai.tool.name": tool,
                            "gen_ai.tool.type": "function",
                            "agentbay.step.index": step.index,
                        }
                    ),
                    kind=SpanKind.INTERNAL,
                    status=step_status,
                    # The steps store one duration for the model call and the code together.
                    start_time=step_start,
                    end_time=step_end,
                    instrumentation_scope=SCOPE,
                )
            )
    return spans


def service_resource() -> Resource:
    """The standard resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), named "agentbay"
    when those do not name the service."""
    resource = Resource.create()
    name = str(resource.attributes.get("service.name", ""))
    if not name or name.startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "agentbay"}))
    return resource


def _load(run_id: int) -> tuple[Run, list[RunStep]] | None:
    run = Run.objects.select_related("agent").filter(pk=run_id).first()
    if run is None:
        return None
    return run, list(run.steps.order_by("index"))


def _hex_ids(value: Any) -> Any:
    """protobuf's JSON mapping writes bytes in base64; OTLP JSON wants ids in hex."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(item, str):
                value[key] = base64.b64decode(item).hex()
            else:
                _hex_ids(item)
    elif isinstance(value, list):
        for item in value:
            _hex_ids(item)
    return value


def run_trace_json(run: Run) -> dict[str, Any]:
    """The run's trace as OTLP JSON (`{"resourceSpans": [...]}`), exporter or not."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    steps = list(run.steps.order_by("index"))
    request = encode_spans(run_spans(run, steps))
    return _hex_ids(MessageToDict(request, use_integers_for_enums=True))


# --- exporting ----------------------------------------------------------------------------


def exporting() -> bool:
    """Whether finished runs are exported: an OTLP endpoint is configured, and neither
    OTEL_SDK_DISABLED nor OTEL_TRACES_EXPORTER turns traces off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters and "otlp" not in exporters:
        return False
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


class _Throttle:
    """At most one report per LOG_EVERY seconds, saying how many failures it stands for."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: float | None = None
        self.suppressed = 0
        self.reason = ""

    def report(self, what: str) -> None:
        with self.lock:
            now = time.monotonic()
            if self.last is not None and now - self.last < LOG_EVERY:
                self.suppressed += 1
                self.reason = ""
                return
            self.last, suppressed, self.suppressed = now, self.suppressed, 0
            reason, self.reason = self.reason, ""
        logger.warning(
            "%s%s%s (logged at most once a minute)",
            what,
            f": {reason}" if reason else "",
            f"; {suppressed} more failure(s) since the last report" if suppressed else "",
        )


_THROTTLE = _Throttle()
_DROPS = _Throttle()


class _ExporterLogFilter(logging.Filter):
    """Keeps the OTLP exporter's own per-batch (and per-retry) lines out of the log; the
    first one of a failing batch (it names the error) becomes the reason in our report."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            if not _THROTTLE.reason:
                _THROTTLE.reason = record.getMessage()[:300]
            return False
        return True


class _QueueFullFilter(logging.Filter):
    """One line a minute, not one per span, when the processor's queue overflows."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Queue full"):
            _DROPS.report("The trace export queue is full: spans of finished runs were dropped")
            return False
        return True


class _Throttled(SpanExporter):
    """The OTLP exporter, whose failures are reported by _THROTTLE and never raised."""

    def __init__(self, exporter: SpanExporter, endpoint: str) -> None:
        self.exporter = exporter
        self.endpoint = endpoint

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.exporter.export(spans)
        except Exception as exc:
            _THROTTLE.reason = f"{type(exc).__name__}: {exc}"[:300]
            result = SpanExportResult.FAILURE
        if result != SpanExportResult.SUCCESS:
            _THROTTLE.report(f"Exporting run traces to {self.endpoint} failed")
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


_lock = threading.Lock()
_processor: BatchSpanProcessor | None = None
_processor_config: tuple | None = None
_resource: Resource | None = None


def _config() -> tuple:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("OTEL_")))


def processor() -> BatchSpanProcessor | None:
    """The process's batch processor feeding the OTLP/HTTP exporter (None when not exporting).
    Built on first use, and again if the variables changed since (tests)."""
    global _processor, _processor_config, _resource
    if not exporting():
        return None
    config = _config()
    with _lock:
        if _processor is not None and _processor_config == config:
            return _processor
        old = _processor
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        for name, kind in (
            (EXPORTER_LOGGER, _ExporterLogFilter),
            (PROCESSOR_LOGGER, _QueueFullFilter),
        ):
            library_logger = logging.getLogger(name)
            if not any(isinstance(f, kind) for f in library_logger.filters):
                library_logger.addFilter(kind())
        exporter = OTLPSpanExporter()
        endpoint = getattr(exporter, "_endpoint", "") or next(
            os.environ[name] for name in ENDPOINT_VARIABLES if os.environ.get(name)
        )
        _processor = BatchSpanProcessor(_Throttled(exporter, endpoint))
        _processor_config = config
        _resource = service_resource()
        atexit.register(_processor.shutdown)  # spans still queued go out at exit
    if old is not None:
        old.shutdown()
    return _processor


def export_run(run_id: int) -> None:
    """Hand a finished run's spans to the batch processor (the export happens in its
    thread). Never raises: a trace is not worth a turn."""
    try:
        batch = processor()
        if batch is None:
            return
        loaded = _load(run_id)
        if loaded is None:
            return
        for span in run_spans(*loaded, resource=_resource):
            batch.on_end(span)
    except Exception as exc:
        _THROTTLE.reason = f"{type(exc).__name__}: {exc}"[:300]
        _THROTTLE.report(f"Building the trace of run {run_id} failed")


def flush(timeout_millis: int = 10_000) -> bool:
    """Export what is queued now (tests; shutdown does it too)."""
    batch = _processor
    return True if batch is None else batch.force_flush(timeout_millis)


def instrument_django() -> bool:
    """Trace the web's requests too (opentelemetry-instrumentation-django), exported through
    the same processor; a run queued by a traced request stores its `traceparent`
    (agents.services.run_start), so request → task → run form one trace. Only when
    exporting; idempotent. Call before the WSGI/ASGI handler loads its middleware."""
    batch = processor()
    if batch is None:
        return False
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.trace import TracerProvider

    instrumentor = DjangoInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return True
    provider = TracerProvider(resource=_resource)
    provider.add_span_processor(batch)
    trace.set_tracer_provider(provider)
    instrumentor.instrument(tracer_provider=provider)
    return True
