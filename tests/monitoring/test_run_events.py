"""GET /api/v1/runs/{id}/events: a run's steps, status changes and end as server-sent events
(docs/API.md, Monitoring), under the WSGI test client and under ASGI."""

import json
import threading
import time
import warnings

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient, Client
from django.utils import timezone

from accounts.services import token_create
from agents import services
from agents.models import Run, RunStep
from agents.validation import AgentConfig
from tests.agents.conftest import wait_final
from tests.conftest import ApiClient
from tests.factories import ConversationFactory, RunFactory, UserFactory


def parse(body: bytes) -> list[dict]:
    """The events of a stream: {"event", "id", "data"} (data decoded), or {"comment"}."""
    events = []
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        event: dict = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                event["comment"] = line[1:].strip()
                continue
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value
        events.append(event)
    return events


def named(events: list[dict]) -> list[tuple]:
    """(event, id) of the named events, in order."""
    return [(e["event"], e.get("id")) for e in events if "event" in e]


@pytest.fixture
def fast_streams(settings):
    settings.RUN_STREAM_POLL_SECONDS = 0.02
    settings.RUN_STREAM_KEEPALIVE_SECONDS = 15
    settings.RUN_STREAM_MAX_SECONDS = 10
    return settings


def add_steps(run, *indexes):
    for index in indexes:
        RunStep.objects.create(
            run=run, index=index, text=f"Thought {index}", code=f"x = {index}", duration_ms=5
        )


def stream(api: ApiClient, run_id: int, **headers) -> tuple:
    response = api.client.get(f"/api/v1/runs/{run_id}/events", headers={**api.headers, **headers})
    return response, b"".join(response.streaming_content)


@pytest.fixture
def finished(user):
    run = RunFactory(conversation=ConversationFactory(user=user), status="succeeded")
    add_steps(run, 1, 2, 3)
    return run


def test_a_finished_run_replays_its_steps_then_ends_at_once(api_client, finished):
    started = time.monotonic()
    response, body = stream(api_client, finished.pk)

    assert time.monotonic() - started < 2
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"].startswith("no-cache")
    events = parse(body)
    assert named(events) == [("step", "1"), ("step", "2"), ("step", "3"), ("end", None)]
    run_json = api_client.get(f"/api/v1/runs/{finished.pk}").json()
    # The step JSON and the Run JSON are exactly what the API serialises elsewhere.
    assert [e["data"] for e in events if e.get("event") == "step"] == run_json["steps"]
    assert events[-1]["data"] == run_json


def test_last_event_id_resumes_after_that_step(api_client, finished):
    _response, body = stream(api_client, finished.pk, **{"Last-Event-ID": "2"})

    assert named(parse(body)) == [("step", "3"), ("end", None)]


@pytest.mark.parametrize("value", ["", "nonsense", "-4"])
def test_an_unusable_last_event_id_replays_everything(api_client, finished, value):
    _response, body = stream(api_client, finished.pk, **{"Last-Event-ID": value})

    assert [e for e, _ in named(parse(body))].count("step") == 3


def test_the_stream_tells_the_browser_how_soon_to_reconnect(api_client, finished):
    _response, body = stream(api_client, finished.pk)

    assert body.startswith(b"retry: 1000\n\n")


def test_the_owner_of_the_agent_does_not_follow_another_users_run(make_api_client, finished):
    owner = finished.agent.owner
    response = make_api_client(owner).get(f"/api/v1/runs/{finished.pk}/events")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_stranger_gets_404_json(make_api_client, finished):
    response = make_api_client(UserFactory()).get(f"/api/v1/runs/{finished.pk}/events")

    assert response.status_code == 404
    assert response.json() == {"detail": "Run not found.", "code": "not_found"}


def test_no_credentials_get_401(client, finished):
    response = client.get(f"/api/v1/runs/{finished.pk}/events")

    assert response.status_code == 401


def test_the_browser_session_may_follow_its_run(client, user, finished):
    client.force_login(user)
    response = client.get(f"/api/v1/runs/{finished.pk}/events")

    assert response.status_code == 200
    assert named(parse(b"".join(response.streaming_content)))[-1] == ("end", None)


# --- runs in flight: real threads writing while the stream polls -------------------------


@pytest.fixture
def live_user(transactional_db):
    return UserFactory()


@pytest.fixture
def live_api(live_user):
    _token, raw = token_create(user=live_user, name="stream")
    return ApiClient(Client(), raw)


def later(*actions, delay=0.1):
    """Run each action after `delay`, in a thread (a worker storing steps, say)."""

    def play():
        try:
            for action in actions:
                time.sleep(delay)
                action()
        finally:
            connection.close()  # this thread's own: else it outlives the test database

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def queued_run(user) -> Run:
    return RunFactory(conversation=ConversationFactory(user=user), status="queued", output=None)


def finish(run_id: int, status="succeeded"):
    Run.objects.filter(pk=run_id).update(
        status=status, finished_at=timezone.now(), output="done", duration_ms=300
    )


def test_a_run_in_flight_streams_status_changes_and_steps_until_its_end(
    live_user, live_api, fast_streams
):
    run = queued_run(live_user)
    writer = later(
        lambda: Run.objects.filter(pk=run.pk).update(status="running"),
        lambda: add_steps(run, 1),
        lambda: add_steps(run, 2),
        lambda: finish(run.pk),
    )

    _response, body = stream(live_api, run.pk)
    writer.join()

    events = parse(body)
    # The stream looks every poll interval, so a change undone before its next look (queued
    # for 0.1 s on a loaded machine) may pass unseen; what it sends keeps the run's order:
    # each step once, in order, statuses as they changed, then `end`.
    assert [e for e in named(events) if e[0] == "step"] == [("step", "1"), ("step", "2")]
    assert named(events)[-2:] == [("status", None), ("end", None)]
    statuses = [e["data"]["status"] for e in events if e.get("event") == "status"]
    assert statuses[-1] == "succeeded" and len(statuses) == len(set(statuses))
    assert statuses == [s for s in ["queued", "running", "succeeded"] if s in statuses]
    assert events[-1]["data"]["status"] == "succeeded"
    assert [s["index"] for s in events[-1]["data"]["steps"]] == [1, 2]


def test_a_stream_ends_after_its_lifetime_and_keeps_alive_meanwhile(
    live_user, live_api, fast_streams
):
    fast_streams.RUN_STREAM_MAX_SECONDS = 0.5
    fast_streams.RUN_STREAM_KEEPALIVE_SECONDS = 0.1
    run = queued_run(live_user)
    add_steps(run, 1)

    started = time.monotonic()
    _response, body = stream(live_api, run.pk)

    assert 0.5 <= time.monotonic() - started < 3
    events = parse(body)
    # No end: the run goes on, and the client reconnects with Last-Event-ID 1.
    assert named(events) == [("status", None), ("step", "1")]
    assert sum(1 for e in events if e.get("comment") == "keep-alive") >= 2


def test_a_stream_holds_no_database_connection_while_it_waits(live_user, live_api, fast_streams):
    fast_streams.RUN_STREAM_MAX_SECONDS = 0.3
    run = queued_run(live_user)
    response = live_api.client.get(f"/api/v1/runs/{run.pk}/events", headers=live_api.headers)
    chunks = iter(response.streaming_content)
    next(chunks)  # retry:
    next(chunks)  # the first look: status queued
    assert connection.connection is None
    list(chunks)


def test_a_run_deleted_meanwhile_closes_the_stream(live_user, live_api, fast_streams):
    run = queued_run(live_user)
    later(lambda: Run.objects.filter(pk=run.pk).delete())

    started = time.monotonic()
    _response, body = stream(live_api, run.pk)

    assert time.monotonic() - started < 3
    assert named(parse(body)) == [("status", None)]


def test_several_streams_of_one_run_each_get_every_event(live_user, live_api, fast_streams):
    run = queued_run(live_user)
    bodies: list[bytes] = []

    def follow():
        bodies.append(stream(live_api, run.pk)[1])

    readers = [threading.Thread(target=follow) for _ in range(3)]
    for reader in readers:
        reader.start()
    time.sleep(0.2)
    add_steps(run, 1)
    later(lambda: finish(run.pk)).join()
    for reader in readers:
        reader.join(timeout=10)

    assert len(bodies) == 3
    for body in bodies:
        assert [n for n in named(parse(body)) if n[0] != "status"] == [("step", "1"), ("end", None)]


def test_under_gunicorns_one_request_workers_a_stream_ends_at_once(live_user, live_api):
    # A sync worker would be held for a minute: the stream sends what there is, then the
    # browser reconnects a second later (retry), which is polling.
    run = queued_run(live_user)
    add_steps(run, 1)

    started = time.monotonic()
    response = live_api.client.get(
        f"/api/v1/runs/{run.pk}/events",
        headers=live_api.headers,
        SERVER_SOFTWARE="gunicorn/23.0.0",
        **{"wsgi.multithread": False},
    )
    body = b"".join(response.streaming_content)

    assert time.monotonic() - started < 1
    assert body.startswith(b"retry: 1000")
    assert named(parse(body)) == [("status", None), ("step", "1")]


# --- ASGI: an async body, streamed as it comes, never buffered ---------------------------


def test_under_asgi_the_stream_is_an_async_body_that_streams(live_user, live_api, fast_streams):
    run = queued_run(live_user)
    writer = later(lambda: add_steps(run, 1), lambda: finish(run.pk), delay=0.2)

    async def follow():
        client = AsyncClient()
        response = await client.get(f"/api/v1/runs/{run.pk}/events", headers=live_api.headers)
        assert response.is_async
        chunks, arrived = [], []
        async for chunk in response.streaming_content:
            chunks.append(chunk)
            arrived.append(time.monotonic())
        return response, b"".join(chunks), arrived

    with warnings.catch_warnings():
        # Django warns when it has to buffer a stream it cannot iterate the server's way.
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        response, body, arrived = async_to_sync(follow)()
    writer.join()

    assert response.status_code == 200
    assert named(parse(body)) == [("status", None), ("step", "1"), ("status", None), ("end", None)]
    assert arrived[-1] - arrived[0] >= 0.2  # the events came as they happened


def test_under_asgi_a_stranger_gets_404_json(live_user, live_api, fast_streams):
    run = queued_run(UserFactory())

    async def get():
        return await AsyncClient().get(f"/api/v1/runs/{run.pk}/events", headers=live_api.headers)

    response = async_to_sync(get)()

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- a real turn: the worker, the fake model, the sandbox ---------------------------------


def test_a_real_turn_streams_each_step_as_the_worker_stores_it(worker, fast_streams):
    owner = UserFactory()
    agent = services.agent_create(
        owner=owner, config=AgentConfig(name="Streamer", model="openai:two-step")
    )
    services.agent_start(agent=agent, by=owner)
    run = services.run_start(agent=agent, user=owner, message="What is 6 times 7?")
    _token, raw = token_create(user=owner, name="stream")

    _response, body = stream(ApiClient(Client(), raw), run.pk)

    events = parse(body)
    assert [n for n in named(events) if n[0] == "step"] == [("step", "1"), ("step", "2")]
    assert named(events)[-1] == ("end", None)
    end = events[-1]["data"]
    assert end["status"] == "succeeded" and end["output"] == "The answer is 42"
    assert wait_final(run.pk).status == "succeeded"


# --- the pages: run cards follow their stream, and poll while they cannot --------------


def test_a_card_in_flight_names_its_stream_and_keeps_its_poll(user_client, user):
    run = queued_run(user)

    html = user_client.get(f"/dashboard/runs/{run.pk}/", headers={"HX-Request": "true"})
    html = html.content.decode()

    assert f'data-run-events="/api/v1/runs/{run.pk}/events"' in html
    assert 'hx-trigger="every 1s"' in html


def test_a_final_card_neither_streams_nor_polls(user_client, finished):
    html = user_client.get(f"/dashboard/runs/{finished.pk}/").content.decode()

    assert "data-run-events" not in html and "hx-trigger" not in html.split("run-card")[1]


def test_the_chat_page_card_in_flight_follows_its_stream(user_client, user):
    run = queued_run(user)
    run.agent.owner = user
    run.agent.save()

    response = user_client.get(f"/dashboard/agents/{run.agent_id}/chat/?c={run.conversation_id}")

    assert f'data-run-events="/api/v1/runs/{run.pk}/events"' in response.content.decode()


# --- clients that leave: their streams stop being watched ------------------------------


def test_a_wsgi_stream_closed_by_its_client_is_no_longer_watched(live_user, live_api, fast_streams):
    from monitoring.streams import HUB

    fast_streams.RUN_STREAM_KEEPALIVE_SECONDS = 0.1
    run = queued_run(live_user)
    before = HUB.watching()
    response = live_api.client.get(f"/api/v1/runs/{run.pk}/events", headers=live_api.headers)
    chunks = iter(response.streaming_content)
    assert [next(chunks)[:6] for _ in range(3)] == [b"retry:", b"event:", b": keep"]
    assert HUB.watching() == before + 1

    response.close()  # what the WSGI server does when the client has gone

    assert HUB.watching() == before


def test_an_asgi_stream_whose_client_disconnects_is_no_longer_watched(
    live_user, live_api, fast_streams
):
    import asyncio

    fast_streams.RUN_STREAM_KEEPALIVE_SECONDS = 0.1

    from config.asgi import application
    from monitoring.streams import HUB

    run = queued_run(live_user)
    token = live_api.headers["Authorization"].encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/api/v1/runs/{run.pk}/events",
        "raw_path": f"/api/v1/runs/{run.pk}/events".encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"authorization", token)],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def exchange():
        sent: list[dict] = []
        gone = asyncio.Event()

        received = []

        async def receive():
            received.append(1)
            if len(received) == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message.get("body", b"").startswith(b": keep-alive"):
                watched.append(HUB.watching())
                gone.set()  # the client leaves while the stream waits

        watched: list[int] = []
        await asyncio.wait_for(application(scope, receive, send), timeout=10)
        return sent, watched

    before = HUB.watching()
    sent, watched = async_to_sync(exchange)()

    assert sent[0]["status"] == 200
    assert watched == [before + 1]  # while it was open
    assert HUB.watching() == before
