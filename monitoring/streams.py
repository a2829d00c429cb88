"""A run's live event stream: `GET /api/v1/runs/{id}/events` (docs/API.md, Monitoring).

Server-sent events, in the order a client needs them:

- `event: status` with `{"status": ...}`: first the run's current status (in-flight runs
  only), then each change;
- `event: step`, `id:` the step's index, `data:` the step as the API serialises a run's steps
  (`agents.schemas.RunStepOut`), for each stored step after `Last-Event-ID`;
- `event: end` with the Run JSON (`agents.schemas.RunOut`), then the stream closes. A run
  already final replays its steps and ends at once.

How it waits: the worker stores steps in the database and tells no one, so something has to
poll. Not each stream: one `Hub` per process polls, every RUN_STREAM_POLL_SECONDS (0.1 s),
the status and highest step index of every run its streams follow, in one query per 500 runs,
and wakes the streams whose run changed; only a woken stream reads its new steps. An idle
stream costs no query and holds no database connection (each look hands its connection back
to the pool on PostgreSQL, or closes it). A comment line every RUN_STREAM_KEEPALIVE_SECONDS
keeps proxies from timing the stream out (and lets a WSGI server notice a client that left).
Every stream ends after RUN_STREAM_MAX_SECONDS: the browser's EventSource reconnects on its
own with `Last-Event-ID`, so no client holds a web thread for long.

Served by WSGI (runserver, gunicorn threads) the body is a plain generator waiting in its
thread (a stream holds a thread: size gunicorn's `--threads` for them); served by ASGI
(uvicorn with `config.asgi`) it is an async generator waiting on the event loop, whose looks
run in a thread pool, so a stream costs no thread while it waits. Django would buffer a sync
generator whole under ASGI (and an async one under WSGI), so `event_stream_response` picks by
the request's handler. `bench/streams.py` measures how many streams one process holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, StreamingHttpResponse
from ninja.responses import NinjaJSONEncoder

from agents.models import Run, RunStep
from agents.schemas import RunOut, RunStepOut

logger = logging.getLogger(__name__)

# How long the browser waits before reconnecting once a stream ends or drops.
RETRY_MS = 1000
# Runs per query of the hub's poll.
HUB_CHUNK = 500

State = tuple[str, int | None] | None  # (status, highest step index); None: the run is gone


def parse_last_event_id(value: str | None) -> int:
    """The step index a reconnecting client already has; 0 (replay everything) when the
    header is missing or is not an index we sent."""
    try:
        index = int((value or "").strip())
    except ValueError:
        return 0
    return index if index > 0 else 0


def sse(event: str, data: dict, *, event_id: int | None = None) -> bytes:
    """One server-sent event. The JSON is one line: json.dumps escapes every newline."""
    payload = json.dumps(data, cls=NinjaJSONEncoder, separators=(",", ":"))
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {payload}\n\n".encode()


def release_connection() -> None:
    """Hand this thread's database connection back (to the pool on PostgreSQL) between looks.
    Inside a transaction (a test's) closing would break it, so it stays."""
    if not connection.in_atomic_block:
        connection.close()


def _states(run_ids: list[int]) -> dict[int, State]:
    """(status, highest step index) of each run, read in one statement: a run seen final is
    seen with all its steps (they commit before the run is finalised)."""
    last_step = RunStep.objects.filter(run_id=OuterRef("pk")).order_by("-index")
    rows = (
        Run.objects.filter(pk__in=run_ids)
        .annotate(last_step=Subquery(last_step.values("index")[:1]))
        .values_list("pk", "status", "last_step")
        .order_by()
    )
    return {pk: (status, last) for pk, status, last in rows}


class RunWatch:
    """What one stream has told its client so far, and the next look at the database."""

    def __init__(self, run_id: int, *, after: int) -> None:
        self.run_id = run_id
        self.after = after  # the highest step index sent (or the client already had)
        self.status: str | None = None  # the last status sent
        self.state: State = None  # what the last look saw
        self.done = False

    def look(self) -> list[bytes]:
        """The events since the last look; sets `done` after `end` (or if the run is gone)."""
        self.state = _states([self.run_id]).get(self.run_id)
        if self.state is None:  # deleted with its conversation: nothing more will come
            self.done = True
            return []
        status, last_step = self.state
        final = status not in Run.IN_FLIGHT
        events = []
        if not final and status != self.status:
            events.append(sse("status", {"status": status}))
            self.status = status
        if last_step is not None and last_step > self.after:
            for step in RunStep.objects.filter(run_id=self.run_id, index__gt=self.after):
                events.append(sse("step", self._dump(RunStepOut, step), event_id=step.index))
                self.after = step.index
        if final:
            run = Run.objects.prefetch_related("steps").get(pk=self.run_id)
            if self.status is not None:  # a client that saw it in flight hears it end
                events.append(sse("status", {"status": status}))
            events.append(sse("end", self._dump(RunOut, run)))
            self.done = True
        return events

    def look_and_release(self) -> list[bytes]:
        try:
            return self.look()
        finally:
            release_connection()

    @staticmethod
    def _dump(schema, obj) -> dict:
        # As django-ninja serialises an operation's response (by alias, then its encoder).
        return schema.model_validate(obj).model_dump(by_alias=True)


class Waker(Protocol):
    def set(self) -> None: ...


class AsyncWaker:
    """Wakes a coroutine on its event loop from the hub's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.event = asyncio.Event()

    def set(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)


class Hub:
    """The one poller of a process: every RUN_STREAM_POLL_SECONDS it reads the state of the
    runs its streams follow and wakes each stream whose run changed since that stream last
    looked. Its thread starts with the first stream and idles (no query) without any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[int, dict[Waker, State]] = {}  # run -> its streams' last states
        self._thread: threading.Thread | None = None

    def subscribe(self, run_id: int, waker: Waker, state: State) -> None:
        with self._lock:
            self._known.setdefault(run_id, {})[waker] = state
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="run-streams", daemon=True)
                self._thread.start()

    def unsubscribe(self, run_id: int, waker: Waker) -> None:
        with self._lock:
            wakers = self._known.get(run_id, {})
            wakers.pop(waker, None)
            if not wakers:
                self._known.pop(run_id, None)

    def watching(self) -> int:
        with self._lock:
            return sum(len(wakers) for wakers in self._known.values())

    def _loop(self) -> None:
        while True:
            time.sleep(float(settings.RUN_STREAM_POLL_SECONDS))
            try:
                self.tick()
            except Exception:
                logger.warning("Run streams could not poll; retrying", exc_info=True)
            finally:
                release_connection()

    def tick(self) -> None:
        with self._lock:
            run_ids = list(self._known)
        states: dict[int, State] = {}
        for start in range(0, len(run_ids), HUB_CHUNK):
            states.update(_states(run_ids[start : start + HUB_CHUNK]))
        with self._lock:
            for run_id in run_ids:
                now = states.get(run_id)
                wakers = self._known.get(run_id, {})
                for waker, seen in wakers.items():
                    if seen != now:
                        wakers[waker] = now
                        # RuntimeError: its event loop is closed, the stream is gone.
                        with contextlib.suppress(RuntimeError):
                            waker.set()


HUB = Hub()


def _keepalive() -> float:
    return float(settings.RUN_STREAM_KEEPALIVE_SECONDS)


def sync_events(watch: RunWatch, *, lifetime: float) -> Iterator[bytes]:
    keepalive = _keepalive()
    started = quiet_since = time.monotonic()
    yield f"retry: {RETRY_MS}\n\n".encode()
    yield from watch.look_and_release()
    if watch.done:
        return
    waker = threading.Event()
    HUB.subscribe(watch.run_id, waker, watch.state)
    try:
        while True:
            now = time.monotonic()
            if now - started >= lifetime:
                return  # the client reconnects with Last-Event-ID
            wait = min(lifetime - (now - started), keepalive - (now - quiet_since))
            if waker.wait(max(wait, 0)):
                waker.clear()
                events = watch.look_and_release()
                yield from events
                if watch.done:
                    return
                if events:
                    quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= keepalive:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
    finally:
        HUB.unsubscribe(watch.run_id, waker)


async def async_events(watch: RunWatch, *, lifetime: float) -> AsyncIterator[bytes]:
    keepalive = _keepalive()
    look = sync_to_async(watch.look_and_release, thread_sensitive=False)
    started = quiet_since = time.monotonic()
    yield f"retry: {RETRY_MS}\n\n".encode()
    for event in await look():
        yield event
    if watch.done:
        return
    waker = AsyncWaker()
    HUB.subscribe(watch.run_id, waker, watch.state)
    try:
        while True:
            now = time.monotonic()
            if now - started >= lifetime:
                return
            wait = min(lifetime - (now - started), keepalive - (now - quiet_since))
            try:
                await asyncio.wait_for(waker.event.wait(), timeout=max(wait, 0))
            except TimeoutError:
                if time.monotonic() - quiet_since >= keepalive:
                    yield b": keep-alive\n\n"
                    quiet_since = time.monotonic()
                continue
            waker.event.clear()
            events = await look()
            for event in events:
                yield event
            if watch.done:
                return
            if events:
                quiet_since = time.monotonic()
    finally:
        HUB.unsubscribe(watch.run_id, waker)


def serves_one_request_at_a_time(request: HttpRequest) -> bool:
    """gunicorn's default (sync) worker serves one request at a time: a stream waiting there
    would take the whole process from everyone else for a minute. There a stream sends what
    there is and ends, and the browser reconnects a second later (`retry`)."""
    meta = request.META
    return str(meta.get("SERVER_SOFTWARE", "")).startswith("gunicorn/") and not meta.get(
        "wsgi.multithread", False
    )


def event_stream_response(request: HttpRequest, run: Run, *, after: int) -> StreamingHttpResponse:
    """The `text/event-stream` response following `run` from step `after` on."""
    watch = RunWatch(run.pk, after=after)
    # The request's own connection is not needed while the stream waits (under ASGI the
    # stream's looks run in other threads): give it back now, not when the stream ends.
    release_connection()
    lifetime = float(settings.RUN_STREAM_MAX_SECONDS)
    body: Iterator[bytes] | AsyncIterator[bytes]
    if isinstance(request, ASGIRequest):
        body = async_events(watch, lifetime=lifetime)
    else:
        if serves_one_request_at_a_time(request):
            lifetime = 0  # what is there now, then reconnect (`retry`): polling, in effect
        body = sync_events(watch, lifetime=lifetime)
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    # nginx and similar proxies would otherwise buffer the stream.
    response["X-Accel-Buffering"] = "no"
    return response
