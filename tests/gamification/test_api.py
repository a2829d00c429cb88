"""docs/API.md "Stats, ratings, leaderboard": paths, statuses and fields exactly."""

import pytest

from gamification import services
from gamification.models import AgentStats
from tests.factories import AgentFactory, AgentStatsFactory, RatingFactory, UserFactory

from .conftest import finish_run

pytestmark = pytest.mark.django_db

STATS_FIELDS = {
    "total_requests", "successful_requests", "failed_requests", "average_response_time",
    "rating", "total_ratings", "earnings", "tasks_completed", "level", "experience_points",
    "achievements", "competitions_won", "competition_podiums",
}  # fmt: skip


@pytest.fixture
def rater_api(make_api_client, rater):
    return make_api_client(rater)


# --- stats ---------------------------------------------------------------------------------


def test_stats_of_own_agent(api_client, agent):
    finish_run(agent, steps=2, duration_ms=1200)

    response = api_client.get(f"/api/v1/agents/{agent.pk}/stats")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == STATS_FIELDS
    assert body["total_requests"] == body["successful_requests"] == body["tasks_completed"] == 1
    assert body["experience_points"] == 15 and body["level"] == 1
    assert body["achievements"] == ["first_run"]
    assert isinstance(body["average_response_time"], float)
    assert body["rating"] == 0


def test_stats_of_a_listed_agent_are_visible_to_anyone(rater_api, agent, visible_to_all):
    visible_to_all(agent)

    assert rater_api.get(f"/api/v1/agents/{agent.pk}/stats").status_code == 200


def test_stats_of_a_stranger_agent_are_404(rater_api, agent):
    response = rater_api.get(f"/api/v1/agents/{agent.pk}/stats")

    assert response.status_code == 404
    assert response.json() == {"detail": "Agent not found.", "code": "not_found"}


def test_stats_of_a_missing_agent_are_404(api_client):
    assert api_client.get("/api/v1/agents/999999/stats").status_code == 404


@pytest.mark.parametrize("agent_id", ["0", "abc", "99999999999999999999999"])
def test_bad_agent_ids_are_422(api_client, agent_id):
    response = api_client.get(f"/api/v1/agents/{agent_id}/stats")

    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/stats"), ("get", "/ratings"), ("post", "/ratings")],
)
def test_unauthenticated_calls_are_401(client, agent, method, path):
    response = getattr(client, method)(f"/api/v1/agents/{agent.pk}{path}")

    assert response.status_code == 401


def test_unauthenticated_leaderboard_is_401(client, db):
    assert client.get("/api/v1/leaderboard").status_code == 401


# --- ratings -------------------------------------------------------------------------------


def test_first_rating_is_201_then_200_updates(rater_api, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    first = rater_api.post(f"/api/v1/agents/{agent.pk}/ratings", {"stars": 4, "comment": "ok"})
    second = rater_api.post(f"/api/v1/agents/{agent.pk}/ratings", {"stars": 5})

    assert first.status_code == 201
    body = first.json()
    assert {k: body[k] for k in ("agent_id", "user", "stars", "comment")} == {
        "agent_id": agent.pk, "user": "rater", "stars": 4, "comment": "ok",
    }  # fmt: skip
    assert second.status_code == 200
    assert second.json()["id"] == body["id"] and second.json()["stars"] == 5
    stats = rater_api.get(f"/api/v1/agents/{agent.pk}/stats").json()
    assert (stats["rating"], stats["total_ratings"]) == (5.0, 1)
    assert "first_five_star" in stats["achievements"]


def test_owner_rating_is_403(api_client, agent):
    finish_run(agent)

    response = api_client.post(f"/api/v1/agents/{agent.pk}/ratings", {"stars": 5})

    assert response.status_code == 403
    assert "own this agent" in response.json()["detail"]


def test_rating_without_a_run_is_403(rater_api, agent, visible_to_all):
    visible_to_all(agent)

    response = rater_api.post(f"/api/v1/agents/{agent.pk}/ratings", {"stars": 5})

    assert response.status_code == 403
    assert "at least once" in response.json()["detail"]


def test_rating_a_stranger_agent_is_404(rater_api, agent):
    response = rater_api.post(f"/api/v1/agents/{agent.pk}/ratings", {"stars": 5})

    assert response.status_code == 404


def test_a_past_renter_who_ran_it_can_still_rate(rater_api, agent, rater):
    finish_run(agent, rater)  # the rental has expired: the agent is no longer visible

    response = rater_api.post(f"/api/v1/agents/{agent.pk}/ratings", {"stars": 3})

    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [{}, {"stars": 0}, {"stars": 6}, {"stars": "five"}, {"stars": 4.5}, {"stars": None},
     {"stars": 3, "comment": "x" * 2001}, {"stars": 3, "comment": "nul\u0000byte"},
     {"stars": 3, "comment": 12}],
)  # fmt: skip
def test_invalid_ratings_are_422_with_field_errors(rater_api, agent, rater, body, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    response = rater_api.post(f"/api/v1/agents/{agent.pk}/ratings", body)

    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_malformed_rating_json_is_400(rater_api, agent):
    response = rater_api.client.post(
        f"/api/v1/agents/{agent.pk}/ratings",
        "{nope",
        content_type="application/json",
        headers=rater_api.headers,
    )

    assert response.status_code == 400


def test_ratings_list_is_paginated_and_hides_moderated(api_client, agent, staff_user):
    raters = UserFactory.create_batch(3)
    for number, rater in enumerate(raters, start=1):
        finish_run(agent, rater)
        services.rating_save(agent=agent, user=rater, stars=number, comment=f"c{number}")
    services.rating_hide(rating=raters[0].ratings.get(), by=staff_user, reason="Off topic")

    page = api_client.get(f"/api/v1/agents/{agent.pk}/ratings", {"limit": 1}).json()
    everything = api_client.get(f"/api/v1/agents/{agent.pk}/ratings").json()

    assert page["count"] == 2 and len(page["items"]) == 1
    assert {r["comment"] for r in everything["items"]} == {"c2", "c3"}
    assert api_client.get(f"/api/v1/agents/{agent.pk}/ratings", {"limit": 101}).status_code == 422


def test_ratings_list_of_a_stranger_agent_is_404(rater_api, agent):
    assert rater_api.get(f"/api/v1/agents/{agent.pk}/ratings").status_code == 404


def test_ratings_list_query_budget(api_client, agent, django_assert_max_num_queries):
    for rater in UserFactory.create_batch(10):
        finish_run(agent, rater)
        services.rating_save(agent=agent, user=rater, stars=4)

    with django_assert_max_num_queries(6):
        body = api_client.get(f"/api/v1/agents/{agent.pk}/ratings").json()

    assert body["count"] == 10


# --- leaderboard ---------------------------------------------------------------------------


def ranked(user, xp: list[int], **extra) -> list:
    made = []
    for number, points in enumerate(xp):
        agent = AgentFactory(owner=user, name=f"A{number}")
        AgentStatsFactory(agent=agent, experience_points=points, **extra)
        made.append(agent)
    return made


def test_leaderboard_ranks_by_xp(api_client, user):
    low, high, middle = ranked(user, [10, 300, 120])

    body = api_client.get("/api/v1/leaderboard").json()

    assert body["count"] == 3
    assert [(i["rank"], i["id"]) for i in body["items"]] == [
        (1, high.pk), (2, middle.pk), (3, low.pk),
    ]  # fmt: skip
    first = body["items"][0]
    assert first["name"] == "A1" and first["owner"] == user.username
    assert set(first["stats"]) == STATS_FIELDS
    assert first["stats"]["experience_points"] == 300


def test_leaderboard_by_rating_needs_three_ratings(api_client, user):
    few, many, best = ranked(user, [0, 0, 0])
    AgentStats.objects.filter(agent=few).update(rating=5.0, total_ratings=2)
    AgentStats.objects.filter(agent=many).update(rating=4.0, total_ratings=30)
    AgentStats.objects.filter(agent=best).update(rating=4.5, total_ratings=3)

    body = api_client.get("/api/v1/leaderboard", {"sort": "rating"}).json()

    assert [i["id"] for i in body["items"]] == [best.pk, many.pk]


def test_leaderboard_by_earnings(api_client, user):
    poor, rich = ranked(user, [500, 0])
    AgentStats.objects.filter(agent=rich).update(earnings="12.50")

    body = api_client.get("/api/v1/leaderboard", {"sort": "earnings"}).json()

    assert [i["id"] for i in body["items"]] == [rich.pk, poor.pk]
    assert body["items"][0]["stats"]["earnings"] == "12.50"


def test_leaderboard_pages_keep_their_rank(api_client, user):
    ranked(user, [50, 40, 30, 20, 10])

    page = api_client.get("/api/v1/leaderboard", {"limit": 2, "offset": 2}).json()

    assert page["count"] == 5
    assert [i["rank"] for i in page["items"]] == [3, 4]


def test_leaderboard_shows_only_agents_the_caller_can_see(api_client, user, visible_to_all):
    (mine,) = ranked(user, [5])
    hidden, listed = ranked(UserFactory(), [500, 50])
    visible_to_all(listed)

    body = api_client.get("/api/v1/leaderboard").json()

    assert [i["id"] for i in body["items"]] == [listed.pk, mine.pk]


@pytest.mark.parametrize("params", [{"sort": "nope"}, {"limit": 0}, {"limit": 101}])
def test_leaderboard_bad_parameters_are_422(api_client, db, params):
    assert api_client.get("/api/v1/leaderboard", params).status_code == 422


def test_leaderboard_query_budget(api_client, user, django_assert_max_num_queries):
    ranked(user, [n * 10 for n in range(30)])

    with django_assert_max_num_queries(5):
        body = api_client.get("/api/v1/leaderboard", {"limit": 20}).json()

    assert len(body["items"]) == 20


def test_ratings_list_returns_comments_as_written(api_client, agent):
    # JSON carries the text as written; the pages escape it (see test_views).
    RatingFactory(agent=agent, comment="<b>bold</b>")

    body = api_client.get(f"/api/v1/agents/{agent.pk}/ratings").json()

    assert body["items"][0]["comment"] == "<b>bold</b>"
