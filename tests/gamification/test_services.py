"""record_run, record_sale, ratings and the payloads, through the services."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from agents import services as agents
from agents.models import Run
from agents.schemas import stats_payload
from core.errors import Forbidden, Invalid
from gamification import panels, services
from gamification.models import AgentAchievement, AgentStats, ExperienceEvent, Rating
from tests.factories import AgentFactory, RunFactory, UserFactory

from .conftest import finish_run

pytestmark = pytest.mark.django_db


def stats_of(agent) -> AgentStats:
    return AgentStats.objects.get(agent=agent)


# --- runs ----------------------------------------------------------------------------------


def test_a_successful_run_counts_and_earns_xp(agent):
    run = finish_run(agent, steps=1, duration_ms=1500)

    stats = stats_of(agent)
    assert (stats.total_requests, stats.successful_requests, stats.failed_requests) == (1, 1, 0)
    assert stats.tasks_completed == 1
    assert stats.experience_points == 10
    assert stats.level == 1
    assert 1.4 < stats.average_response_time < 2.5
    assert stats.achievement_codes == ["first_run"]
    assert ExperienceEvent.objects.get(run=run).xp == 10


def test_multi_step_runs_earn_more(agent):
    finish_run(agent, steps=2)
    finish_run(agent, steps=6)

    assert stats_of(agent).experience_points == 15 + 30


def test_failed_and_timed_out_runs_count_but_earn_nothing(agent):
    finish_run(agent, status="failed", steps=3)
    finish_run(agent, status="timed_out")

    stats = stats_of(agent)
    assert (stats.total_requests, stats.failed_requests, stats.tasks_completed) == (2, 2, 0)
    assert stats.experience_points == 0
    assert stats.achievement_codes == []


def test_cancelled_runs_are_not_counted(agent):
    finish_run(agent, status="cancelled")

    assert stats_of(agent).total_requests == 0
    assert not ExperienceEvent.objects.exists()


def test_record_run_is_idempotent_per_run(agent):
    run = finish_run(agent)

    assert services.record_run(run=run) == []
    assert stats_of(agent).total_requests == 1
    assert stats_of(agent).experience_points == 10


def test_record_run_ignores_runs_still_in_flight(agent):
    run = RunFactory(conversation__agent=agent, status="running")

    assert services.record_run(run=run) == []
    assert stats_of(agent).total_requests == 0


def test_a_run_of_an_agent_without_a_stats_row_creates_it():
    agent = AgentFactory()  # the factory skips agent_create, so no stats row yet

    finish_run(agent)

    assert stats_of(agent).total_requests == 1


def test_level_up_and_unlocks_become_run_notices(agent):
    for _ in range(9):
        finish_run(agent, steps=2)  # 9 x 15 = 135 XP: level 2 reached on the 7th run
    tenth = finish_run(agent, steps=2)

    stats = stats_of(agent)
    assert (stats.experience_points, stats.level) == (150, 2)
    assert panels.run_notices(run=tenth) == ["Achievement unlocked: Ten runs"]
    seventh = Run.objects.filter(agent=agent).order_by("pk")[6]
    first = Run.objects.filter(agent=agent).order_by("pk")[0]
    assert panels.run_notices(run=seventh) == ["Level 2 reached"]
    assert panels.run_notices(run=first) == ["Achievement unlocked: First run"]


def test_run_notices_of_a_run_not_counted_are_empty(agent):
    run = RunFactory(conversation__agent=agent, status="queued")

    assert panels.run_notices(run=run) == []


def test_achievements_unlock_once_and_record_their_run(agent):
    first = finish_run(agent)
    finish_run(agent)

    unlock = AgentAchievement.objects.get(agent=agent)
    assert unlock.achievement.code == "first_run"
    assert unlock.run == first
    assert stats_of(agent).achievement_codes == ["first_run"]


def test_unlocks_recreate_missing_definitions(agent):
    from gamification.models import Achievement

    Achievement.objects.all().delete()  # as a flushed test database would be

    finish_run(agent)

    assert AgentAchievement.objects.get(agent=agent).achievement.code == "first_run"
    assert Achievement.objects.count() == 16


def test_level_5_unlocks_at_800_xp(agent):
    AgentStats.objects.filter(agent=agent).update(experience_points=790, level=4)

    run = finish_run(agent)

    assert stats_of(agent).level == 5
    assert panels.run_notices(run=run) == [
        "Level 5 reached",
        "Achievement unlocked: First run",
        "Achievement unlocked: Level 5",
    ]


# --- sales ---------------------------------------------------------------------------------


def test_record_sale_adds_earnings_xp_and_achievements(agent):
    notices = services.record_sale(agent=agent, amount=Decimal("900.00"), kind="sale")
    more = services.record_sale(agent=agent, amount="100.00", kind="rental")

    stats = stats_of(agent)
    assert stats.earnings == Decimal("1000.00")
    assert (stats.sales_count, stats.rentals_count) == (1, 1)
    assert stats.experience_points == 140
    assert notices == ["Level 2 reached", "Achievement unlocked: First sale"]
    assert more == [
        "Achievement unlocked: First rental",
        "Achievement unlocked: Earned 1,000 credits",
    ]


def test_an_agent_without_a_stats_row_gets_one_when_it_earns(agent):
    AgentStats.objects.filter(agent=agent).delete()  # a row lost, or an agent older than stats

    with transaction.atomic():
        services.record_sale(agent=agent, amount="12.50", kind="rental")

    stats = stats_of(agent)
    assert (stats.earnings, stats.rentals_count) == (Decimal("12.50"), 1)
    assert ExperienceEvent.objects.filter(agent=agent, kind="rental").count() == 1


def test_record_sale_refuses_an_unknown_kind(agent):
    with pytest.raises(ValueError):
        services.record_sale(agent=agent, amount=1, kind="gift")


# --- ratings -------------------------------------------------------------------------------


def test_the_owner_cannot_rate(agent, user):
    with pytest.raises(Forbidden, match="own this agent"):
        services.rating_save(agent=agent, user=user, stars=5)


def test_a_user_who_never_ran_the_agent_cannot_rate(agent, rater):
    with pytest.raises(Forbidden, match="at least once"):
        services.rating_save(agent=agent, user=rater, stars=5)


def test_a_run_still_queued_does_not_make_a_rater(agent, rater):
    RunFactory(conversation__agent=agent, conversation__user=rater, status="queued")

    assert services.rating_eligibility(agent=agent, user=rater) is not None


def test_a_user_who_ran_it_rates_then_updates(agent, rater):
    finish_run(agent, rater)

    first = services.rating_save(agent=agent, user=rater, stars=3, comment="  Fine.  ")
    second = services.rating_save(agent=agent, user=rater, stars=4, comment="Better.")

    assert first.created and not second.created
    assert first.rating.pk == second.rating.pk
    rating = Rating.objects.get()
    assert (rating.stars, rating.comment) == (4, "Better.")
    stats = stats_of(agent)
    assert (stats.rating, stats.total_ratings) == (4.0, 1)


@pytest.mark.parametrize("stars", [0, 6, -1, True, "5", 4.5])
def test_stars_outside_1_to_5_are_invalid(agent, rater, stars):
    finish_run(agent, rater)

    with pytest.raises(Invalid):
        services.rating_save(agent=agent, user=rater, stars=stars)


def test_long_comments_are_invalid(agent, rater):
    finish_run(agent, rater)

    with pytest.raises(Invalid):
        services.rating_save(agent=agent, user=rater, stars=3, comment="x" * 2001)


def test_the_average_is_recomputed_exactly_from_the_rows(agent):
    raters = UserFactory.create_batch(3)
    for rater in raters:
        finish_run(agent, rater)
    for rater, stars in zip(raters, [5, 4, 4], strict=True):
        services.rating_save(agent=agent, user=rater, stars=stars)
    services.rating_save(agent=agent, user=raters[1], stars=1)

    stats = stats_of(agent)
    assert stats.total_ratings == 3
    assert stats.rating == pytest.approx(10 / 3)
    assert stats.five_star_ratings == 1


def test_five_stars_pay_xp_once_per_rater(agent, rater):
    finish_run(agent, rater)  # 10 XP
    xp = stats_of(agent).experience_points

    result = services.rating_save(agent=agent, user=rater, stars=5)
    services.rating_save(agent=agent, user=rater, stars=4)
    services.rating_save(agent=agent, user=rater, stars=5)

    assert stats_of(agent).experience_points == xp + 25
    assert result.notices == ["Achievement unlocked: First 5-star rating"]


def test_hiding_a_rating_takes_it_out_of_the_average(agent, staff_user):
    raters = UserFactory.create_batch(2)
    for rater, stars in zip(raters, [5, 1], strict=True):
        finish_run(agent, rater)
        services.rating_save(agent=agent, user=rater, stars=stars)
    bad = Rating.objects.get(stars=1)

    services.rating_hide(rating=bad, by=staff_user, reason="Spam")

    stats = stats_of(agent)
    assert (stats.rating, stats.total_ratings) == (5.0, 1)
    bad.refresh_from_db()
    assert bad.is_hidden and bad.hidden_reason == "Spam" and bad.hidden_by == staff_user
    services.rating_unhide(rating=bad, by=staff_user)
    assert stats_of(agent).total_ratings == 2


def test_hiding_needs_a_reason(agent, rater, staff_user):
    finish_run(agent, rater)
    rating = services.rating_save(agent=agent, user=rater, stars=2).rating

    with pytest.raises(Invalid):
        services.rating_hide(rating=rating, by=staff_user, reason="  ")


def test_the_database_refuses_stars_outside_1_to_5(agent, rater):
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(agent=agent, user=rater, stars=6)


def test_the_database_refuses_a_second_rating_by_the_same_user(agent, rater):
    Rating.objects.create(agent=agent, user=rater, stars=3)

    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(agent=agent, user=rater, stars=4)


# --- payloads ------------------------------------------------------------------------------


def test_stats_payload_has_the_api_fields(agent):
    finish_run(agent, duration_ms=2000)
    agent = type(agent).objects.select_related("stats").get(pk=agent.pk)

    payload = stats_payload(agent)

    assert set(payload) == {
        "total_requests", "successful_requests", "failed_requests", "average_response_time",
        "rating", "total_ratings", "earnings", "tasks_completed", "level",
        "experience_points", "achievements", "competitions_won", "competition_podiums",
    }  # fmt: skip
    assert payload["achievements"] == ["first_run"]
    assert payload["earnings"] == "0.00"
    assert isinstance(payload["average_response_time"], float)


def test_stats_payload_of_an_agent_without_stats_is_zeros():
    payload = stats_payload(AgentFactory())

    assert payload["total_requests"] == 0 and payload["level"] == 1
    assert payload["achievements"] == []


def test_runs_per_day_counts_final_runs_of_the_last_two_weeks(agent):
    finish_run(agent)
    finish_run(agent, status="failed")
    finish_run(agent, status="cancelled")

    series = panels.runs_per_day(agent=agent)

    assert len(series) == 14
    assert series[-1][1] == 2 and sum(n for _day, n in series) == 2


def test_panel_context_for_an_eligible_rater(agent, rater):
    finish_run(agent, rater)

    context = panels.agent_panel_context(agent=agent, user=rater)

    assert context["can_rate"] and context["rate_refusal"] is None
    assert context["level"].level == 1
    assert [item["unlocked"] for item in context["achievements"]][0] is True
    assert context["sparkline"]["total"] == 1
    assert context["success_bar"]["ok_width"] == 100.0


def test_seed_demo_leaves_several_levels_ratings_and_achievements():
    from django.core.management import call_command

    call_command("seed_demo")
    call_command("seed_demo")

    levels = set(AgentStats.objects.values_list("level", flat=True))
    assert len(levels) >= 3
    assert AgentAchievement.objects.exists()
    assert Rating.objects.exists()
    assert agents  # the agents' services did the runs
