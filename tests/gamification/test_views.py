"""Pages: leaderboard, achievements, the agent's stats panel and the rating form.
Access triads, htmx full-page/partial pairs, escaping and query budgets."""

import pytest

from gamification import rules, services
from gamification.models import Rating
from tests.factories import AgentFactory, AgentStatsFactory, UserFactory

from .conftest import finish_run

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def rater_client(client, rater):
    client.force_login(rater)
    return client


# --- leaderboard ---------------------------------------------------------------------------


def test_leaderboard_needs_login(client):
    response = client.get("/leaderboard/")

    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/")


def test_leaderboard_ranks_by_xp_and_marks_my_agents(user_client, user, visible_to_all):
    mine = AgentFactory(owner=user, name="Mine")
    theirs = visible_to_all(AgentFactory(name="Theirs"))
    AgentStatsFactory(agent=mine, experience_points=10)
    AgentStatsFactory(agent=theirs, experience_points=900, level=5)

    content = user_client.get("/leaderboard/").content.decode()

    assert "<html" in content and 'id="leaderboard-results"' in content
    assert content.index("Theirs") < content.index("Mine")
    assert content.count('class="mine"') == 1
    assert ">yours<" in content


def test_leaderboard_rows_show_changes_at_once(user_client, user):
    stats = AgentStatsFactory(agent=AgentFactory(owner=user, name="Climber"), experience_points=10)
    assert ">10<" in user_client.get("/leaderboard/").content.decode()

    type(stats).objects.filter(pk=stats.pk).update(experience_points=1234)  # no save()
    content = user_client.get("/leaderboard/").content.decode()

    assert ">1,234<" in content and ">10<" not in content


def test_leaderboard_htmx_tab_renders_only_results(user_client, user):
    rated = AgentFactory(owner=user, name="Rated")
    AgentStatsFactory(agent=rated, rating=4.2, total_ratings=3)
    AgentStatsFactory(agent=AgentFactory(owner=user, name="Unrated"), experience_points=50)

    response = user_client.get("/leaderboard/", {"sort": "rating"}, headers=HTMX)

    content = response.content.decode()
    assert content.lstrip().startswith('<section id="leaderboard-results"')
    assert "<html" not in content
    assert "Rated" in content and "Unrated" not in content
    assert 'href="?sort=rating" hx-get="?sort=rating"' in content
    assert "at least 3 ratings" in content


def test_leaderboard_earnings_tab_and_a_bad_sort_falls_back_to_xp(user_client, user):
    AgentStatsFactory(agent=AgentFactory(owner=user, name="Earner"), earnings="5.00")

    assert b"Earner" in user_client.get("/leaderboard/", {"sort": "earnings"}).content
    assert user_client.get("/leaderboard/", {"sort": "'"}).status_code == 200


def test_leaderboard_empty_states(user_client):
    assert b"No ranked agents yet" in user_client.get("/leaderboard/").content
    assert b"No rated agents yet" in user_client.get("/leaderboard/", {"sort": "rating"}).content


def test_leaderboard_hides_agents_the_user_cannot_see(user_client):
    AgentStatsFactory(agent=AgentFactory(name="Secret agent"), experience_points=5)

    assert b"Secret agent" not in user_client.get("/leaderboard/").content


def test_leaderboard_paginates(user_client, user):
    for number in range(30):
        AgentStatsFactory(agent=AgentFactory(owner=user), experience_points=number)

    second = user_client.get("/leaderboard/", {"page": 2}).content.decode()

    assert "page 2 of 2" in second
    assert '<td class="num" data-label="Rank">26</td>' in second


def test_leaderboard_query_budget(user_client, user, django_assert_max_num_queries):
    for number in range(25):
        AgentStatsFactory(agent=AgentFactory(owner=user), experience_points=number)

    with django_assert_max_num_queries(5):
        user_client.get("/leaderboard/")


def test_leaderboard_queries_do_not_grow_with_the_agents(
    user_client, user, django_assert_max_num_queries
):
    for number in range(60):
        AgentStatsFactory(agent=AgentFactory(owner=user), experience_points=number)

    with django_assert_max_num_queries(5):  # the budget of one page above
        content = user_client.get("/leaderboard/", {"page": 3}).content.decode()

    assert '<td class="num" data-label="Rank">51</td>' in content
    assert "page 3 of 3" in content


# --- achievements --------------------------------------------------------------------------


def test_achievements_page_lists_my_agents_unlocked_and_locked(user_client, agent):
    finish_run(agent)

    content = user_client.get("/leaderboard/achievements/").content.decode()

    assert "Scorer" in content
    assert 'class="achievement unlocked" data-code="first_run"' in content
    assert 'class="achievement locked" data-code="runs_10"' in content
    assert "1 / 10 runs" in content
    assert "Complete 100 runs successfully." in content


def test_achievements_page_without_agents_has_an_empty_state(user_client):
    assert b"No agents yet" in user_client.get("/leaderboard/achievements/").content


def test_achievements_page_query_budget(user_client, user, django_assert_max_num_queries):
    for _ in range(10):
        AgentStatsFactory(agent=AgentFactory(owner=user))

    # 5 + the page cache's fingerprint (PostgreSQL; the header's unread count is on the user)
    with django_assert_max_num_queries(6):
        user_client.get("/leaderboard/achievements/")


def test_achievements_page_is_paginated_with_constant_queries(
    user_client, user, django_assert_max_num_queries
):
    for number in range(25):
        AgentStatsFactory(agent=AgentFactory(owner=user), experience_points=number)

    with django_assert_max_num_queries(6):  # the budget of 10 agents above
        content = user_client.get("/leaderboard/achievements/", {"page": 3}).content.decode()

    assert content.count('class="achievement-board"') == 5
    assert "page 3 of 3" in content
    assert f"of {25 * len(rules.ACHIEVEMENTS)} unlocked across 25 agents" in content


# --- the agent's stats page and panel --------------------------------------------------------


def test_owner_sees_stats_pictures_and_no_rating_form(user_client, agent):
    finish_run(agent, steps=2)
    finish_run(agent, status="failed")

    response = user_client.get(f"/leaderboard/agents/{agent.pk}/")

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" in content
    assert 'class="success-bar"' in content and "1 succeeded, 1 failed" in content
    assert 'class="sparkline"' in content and "<polyline" in content
    assert 'role="progressbar"' in content and "15 XP" in content
    assert "Level <strong" in content
    assert "50.0%" in content
    assert 'data-code="first_run"' in content
    assert "rating-form" not in content


def test_viewer_who_ran_it_sees_the_rating_form(rater_client, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    content = rater_client.get(f"/leaderboard/agents/{agent.pk}/").content.decode()

    assert 'class="stack rating-form"' in content
    assert f'hx-post="/leaderboard/agents/{agent.pk}/rating/"' in content


def test_viewer_who_never_ran_it_is_told_how_to_rate(rater_client, agent, visible_to_all):
    visible_to_all(agent)

    content = rater_client.get(f"/leaderboard/agents/{agent.pk}/").content.decode()

    assert "rating-form" not in content
    assert "Run this agent at least once" in content


def test_stranger_gets_404(rater_client, agent):
    assert rater_client.get(f"/leaderboard/agents/{agent.pk}/").status_code == 404


def test_htmx_request_for_a_region_renders_only_it(user_client, agent):
    response = user_client.get(
        f"/leaderboard/agents/{agent.pk}/", headers={**HTMX, "HX-Target": "agent-stats"}
    )

    content = response.content.decode()
    assert content.lstrip().startswith('<div id="agent-stats"')
    assert "<html" not in content and "agent-ratings" not in content


def test_stats_page_query_budget(user_client, agent, django_assert_max_num_queries):
    for rater in UserFactory.create_batch(5):
        finish_run(agent, rater)
        services.rating_save(agent=agent, user=rater, stars=4)

    with django_assert_max_num_queries(10):
        user_client.get(f"/leaderboard/agents/{agent.pk}/")


def test_the_agent_page_includes_the_panel(user_client, agent):
    finish_run(agent)

    content = user_client.get(f"/dashboard/agents/{agent.pk}/").content.decode()

    assert 'id="agent-stats"' in content and 'id="agent-ratings"' in content


# --- rating form ---------------------------------------------------------------------------


def test_htmx_rating_swaps_the_ratings_and_the_stats(rater_client, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    response = rater_client.post(
        f"/leaderboard/agents/{agent.pk}/rating/",
        {"stars": "5", "comment": "<script>alert(1)</script> great"},
        headers=HTMX,
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="agent-ratings"')
    assert "<html" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt; great" in content
    assert "<script>alert" not in content
    assert "Achievement unlocked: First 5-star rating" in content
    assert '<div id="agent-stats" class="gami-stats" hx-swap-oob="true">' in content
    assert "35 XP" in content  # 10 for the run, 25 for the first 5 stars
    assert Rating.objects.get().stars == 5


def test_plain_rating_post_redirects_back(rater_client, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    response = rater_client.post(
        f"/leaderboard/agents/{agent.pk}/rating/",
        {"stars": "3", "next": f"/dashboard/agents/{agent.pk}/"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/dashboard/agents/{agent.pk}/"
    follow = rater_client.get(response["Location"]).content.decode()
    assert "Rating saved." in follow


def test_rating_post_ignores_an_offsite_next(rater_client, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    response = rater_client.post(
        f"/leaderboard/agents/{agent.pk}/rating/", {"stars": "3", "next": "https://evil.test/"}
    )

    assert response["Location"] == f"/leaderboard/agents/{agent.pk}/"


def test_rating_again_updates(rater_client, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)
    url = f"/leaderboard/agents/{agent.pk}/rating/"

    rater_client.post(url, {"stars": "2"})
    content = rater_client.post(url, {"stars": "4"}, headers=HTMX).content.decode()

    assert Rating.objects.get().stars == 4
    assert "Rating updated." in content and "Update rating" in content


def test_invalid_rating_htmx_shows_errors_in_the_fragment(
    rater_client, agent, rater, visible_to_all
):
    visible_to_all(agent)
    finish_run(agent, rater)

    response = rater_client.post(
        f"/leaderboard/agents/{agent.pk}/rating/", {"stars": "9"}, headers=HTMX
    )

    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not Rating.objects.exists()


def test_invalid_rating_plain_post_is_422_with_the_page(rater_client, agent, rater, visible_to_all):
    visible_to_all(agent)
    finish_run(agent, rater)

    response = rater_client.post(
        f"/leaderboard/agents/{agent.pk}/rating/", {"stars": "3", "comment": "x" * 2001}
    )

    assert response.status_code == 422
    assert b"<html" in response.content


def test_owner_rating_post_is_403(user_client, agent):
    finish_run(agent)

    response = user_client.post(f"/leaderboard/agents/{agent.pk}/rating/", {"stars": "5"})

    assert response.status_code == 403
    assert not Rating.objects.exists()


def test_viewer_who_never_ran_it_gets_403(rater_client, agent, visible_to_all):
    visible_to_all(agent)

    response = rater_client.post(f"/leaderboard/agents/{agent.pk}/rating/", {"stars": "5"})

    assert response.status_code == 403


def test_stranger_rating_post_is_404(rater_client, agent):
    response = rater_client.post(f"/leaderboard/agents/{agent.pk}/rating/", {"stars": "5"})

    assert response.status_code == 404


def test_rating_get_is_405(rater_client, agent):
    assert rater_client.get(f"/leaderboard/agents/{agent.pk}/rating/").status_code == 405


# --- under a finished run in the chat ----------------------------------------------------------


def test_a_finished_run_shows_the_xp_it_earned(user_client, agent):
    run = finish_run(agent, steps=2)

    card = user_client.get(f"/dashboard/runs/{run.pk}/", headers=HTMX).content.decode()

    assert '<p class="notice xp-gained" role="status">+15 XP' in card
    assert "★ Achievement unlocked: First run" in card


def test_the_xp_stays_under_the_run_when_the_chat_is_reloaded(user_client, agent):
    run = finish_run(agent, steps=2)

    chat = user_client.get(f"/dashboard/agents/{agent.pk}/chat/?c={run.conversation_id}")

    assert "+15 XP" in chat.content.decode()


def test_a_run_that_earned_nothing_shows_no_xp(user_client, agent):
    finish_run(agent)  # the first run's unlock is out of the way
    failed = finish_run(agent, status="failed")

    card = user_client.get(f"/dashboard/runs/{failed.pk}/", headers=HTMX).content.decode()

    assert "XP" not in card and "run-notices" not in card


def test_leaderboard_says_not_rated_yet(user_client, user):
    AgentStatsFactory(agent=AgentFactory(owner=user, name="Fresh"), experience_points=5)

    content = user_client.get("/leaderboard/").content.decode()

    assert "not rated yet" in content
