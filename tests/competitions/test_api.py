"""docs/API.md "Competitions": endpoints, statuses, hidden tasks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from competitions.models import Competition
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

SECRET = "The secret prompt 7f3a"


def body(**changes):
    data = {
        "title": "Quiz",
        "description": "Answer well",
        "entry_fee": "5.00",
        "prize": "20.00",
        "closes_at": (timezone.now() + timedelta(hours=1)).isoformat(),
        "tasks": [{"prompt": SECRET, "expected": "secret answer 9c1", "grader": "exact"}],
    }
    data.update(changes)
    return data


@pytest.fixture
def entrant(make_api_client, other_user):
    return make_api_client(other_user)


def test_create_then_everyone_sees_it_without_its_tasks(api_client, entrant, other_user):
    response = api_client.post("/api/v1/competitions", body())
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == "open" and created["prize_pool"] == "20.00"
    assert created["tasks_count"] == 1 and created["entries_count"] == 0
    assert created["results"] == [] and created["entry_fee"] == "5.00"

    agent = AgentFactory(owner=other_user)
    path = f"/api/v1/competitions/{created['id']}"
    entry = entrant.post(f"{path}/entries", {"agent_id": agent.pk})
    assert entry.status_code == 201
    assert entry.json()["agent_id"] == agent.pk
    assert entrant.post(f"{path}/entries", {"agent_id": agent.pk}).status_code == 409

    for response in (
        entrant.get(path),
        entrant.get("/api/v1/competitions"),
        entrant.get(f"{path}/tasks"),
    ):
        assert SECRET not in response.content.decode()
        assert "9c1" not in response.content.decode()
    assert entrant.get(path).json()["prize_pool"] == "25.00"
    assert entrant.get(f"{path}/tasks").status_code == 403
    tasks = api_client.get(f"{path}/tasks")
    assert tasks.status_code == 200 and tasks.json()[0]["prompt"] == SECRET


@pytest.mark.parametrize(
    "changes",
    [
        {"closes_at": (timezone.now() + timedelta(seconds=30)).isoformat()},
        {"tasks": []},
        {"tasks": [{"prompt": "q", "expected": "a", "grader": "exact"}] * 51},
        {"tasks": [{"prompt": "x" * 5001, "expected": "a", "grader": "exact"}]},
        {"tasks": [{"prompt": "q", "expected": "a", "grader": "regex"}]},
        {"entry_fee": "1.234"},
    ],
)
def test_bad_input_is_422(api_client, changes):
    assert api_client.post("/api/v1/competitions", body(**changes)).status_code == 422
    assert not Competition.objects.exists()


def test_prize_beyond_credits_is_402(api_client):
    assert api_client.post("/api/v1/competitions", body(prize="5000.00")).status_code == 402


def test_entry_errors(api_client, entrant, user, other_user):
    path = f"/api/v1/competitions/{api_client.post('/api/v1/competitions', body()).json()['id']}"
    assert (
        api_client.post(f"{path}/entries", {"agent_id": AgentFactory(owner=user).pk}).status_code
        == 409
    )
    stopped = AgentFactory(owner=other_user, state="stopped")
    assert entrant.post(f"{path}/entries", {"agent_id": stopped.pk}).status_code == 409
    foreign = AgentFactory(owner=user)
    assert entrant.post(f"{path}/entries", {"agent_id": foreign.pk}).status_code in (403, 404)
    Competition.objects.update(closes_at=timezone.now())
    late = AgentFactory(owner=other_user)
    assert entrant.post(f"{path}/entries", {"agent_id": late.pk}).status_code == 409
    assert (
        entrant.post("/api/v1/competitions/999999/entries", {"agent_id": late.pk}).status_code
        == 404
    )


def test_cancel_by_organizer_only(api_client, entrant):
    path = f"/api/v1/competitions/{api_client.post('/api/v1/competitions', body()).json()['id']}"
    assert entrant.post(f"{path}/cancel").status_code == 403
    response = api_client.post(f"{path}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert api_client.post(f"{path}/cancel").status_code == 409
    listed = api_client.get("/api/v1/competitions", {"status": "cancelled"}).json()
    assert listed["count"] == 1
    assert api_client.get("/api/v1/competitions", {"status": "open"}).json()["count"] == 0


def test_the_list_costs_the_same_queries_for_2_or_30_competitions(
    api_client, entrant, other_user, user, make_competition
):
    """Counts, fees and a finished one's results come with the page, not per competition."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from competitions.models import Entry
    from competitions.services import competition_enter

    def add(n: int) -> None:
        for _ in range(n):
            competition = make_competition(user, entry_fee="5.00", prize="10.00")
            competition_enter(
                competition=competition, agent=AgentFactory(owner=other_user), by=other_user
            )
            Competition.objects.filter(pk=competition.pk).update(status="finished")
            Entry.objects.filter(competition=competition).update(
                rank=1, score=1, payout="13.50", duration_ms=42
            )

    def queries() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as captured:
            response = entrant.get("/api/v1/competitions?limit=100")
        assert response.status_code == 200
        return len(captured), response.json()

    add(2)
    queries()  # the token's first use also stamps last_used_at
    few, _ = queries()
    add(28)
    many, page = queries()
    assert many == few, (few, many)
    assert page["count"] == 30
    item = page["items"][0]
    assert item["entries_count"] == 1 and item["tasks_count"] == 2
    assert item["prize_pool"] == "15.00"
    assert item["results"] == [
        {
            "rank": 1,
            "agent_id": item["results"][0]["agent_id"],
            "agent_name": item["results"][0]["agent_name"],
            "owner": other_user.username,
            "score": 1,
            "duration_ms": 42,
            "payout": "13.50",
        }
    ]
