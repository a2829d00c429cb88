"""The rules as plain functions: exact XP, level thresholds and achievement predicates."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from gamification import rules


def facts(**values):
    base = {
        "total_requests": 0,
        "successful_requests": 0,
        "tasks_completed": 0,
        "total_response_ms": 0,
        "rating": 0.0,
        "total_ratings": 0,
        "five_star_ratings": 0,
        "sales_count": 0,
        "rentals_count": 0,
        "auction_sales_count": 0,
        "competitions_won": 0,
        "earnings": Decimal("0.00"),
        "level": 1,
    }
    return SimpleNamespace(**{**base, **values})


@pytest.mark.parametrize(
    ("succeeded", "steps", "xp"),
    [(True, 1, 10), (True, 2, 15), (True, 3, 20), (True, 5, 30), (True, 12, 30), (True, 0, 10),
     (False, 1, 0), (False, 7, 0)],
)  # fmt: skip
def test_run_xp(succeeded, steps, xp):
    assert rules.run_xp(succeeded=succeeded, steps=steps) == xp


def test_other_xp_figures():
    assert rules.XP_FIVE_STAR == 25
    assert rules.sale_xp(kind="sale") == 100
    assert rules.sale_xp(kind="rental") == 40


def test_level_thresholds_follow_100_n_to_the_1_5():
    thresholds = {level: rules.xp_for_level(level) for level in range(1, 11)}

    assert thresholds == {
        1: 0, 2: 100, 3: 282, 4: 519, 5: 800, 6: 1118, 7: 1469, 8: 1852, 9: 2262, 10: 2700,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("xp", "level"),
    [(0, 1), (99, 1), (100, 2), (281, 2), (282, 3), (799, 4), (800, 5), (2699, 9), (2700, 10),
     (10**9, 46416)],
)  # fmt: skip
def test_level_for_xp_at_the_boundaries(xp, level):
    assert rules.level_for_xp(xp) == level
    assert rules.xp_for_level(level) <= xp < rules.xp_for_level(level + 1)


def test_level_progress_shows_the_way_to_the_next_level():
    progress = rules.level_progress(150)

    assert (progress.level, progress.floor, progress.next_at) == (2, 100, 282)
    assert (progress.into, progress.span, progress.to_next, progress.percent) == (50, 182, 132, 27)


def test_each_achievement_has_a_unique_code_icon_and_description():
    codes = [rule.code for rule in rules.ACHIEVEMENTS]

    assert len(codes) == len(set(codes)) == 16
    assert all(rule.icon and rule.description and rule.name for rule in rules.ACHIEVEMENTS)


def unlocked(**values) -> set[str]:
    return {rule.code for rule in rules.newly_unlocked(facts(**values), [])}


def test_run_count_achievements():
    assert unlocked() == set()
    assert unlocked(tasks_completed=1) == {"first_run"}
    assert unlocked(tasks_completed=9) == {"first_run"}
    assert unlocked(tasks_completed=10) == {"first_run", "runs_10"}
    assert unlocked(tasks_completed=1000) >= {"runs_100", "runs_1000"}


def test_reliable_needs_95_percent_over_50_runs():
    assert "reliable" not in unlocked(total_requests=49, successful_requests=49)
    assert "reliable" in unlocked(total_requests=60, successful_requests=57)  # exactly 95%
    assert "reliable" not in unlocked(total_requests=60, successful_requests=56)


def test_fast_responder_needs_under_2_seconds_over_20_runs():
    assert "fast_responder" not in unlocked(total_requests=19, total_response_ms=19 * 100)
    assert "fast_responder" in unlocked(total_requests=20, total_response_ms=20 * 1999)
    assert "fast_responder" not in unlocked(total_requests=20, total_response_ms=20 * 2000)


def test_rating_achievements():
    assert "first_five_star" in unlocked(five_star_ratings=1)
    assert "crowd_favourite" not in unlocked(total_ratings=9, rating=5.0)
    assert "crowd_favourite" in unlocked(total_ratings=10, rating=4.5)
    assert "crowd_favourite" not in unlocked(total_ratings=10, rating=4.4)


def test_money_and_level_achievements():
    assert unlocked(sales_count=1) == {"first_sale"}
    assert unlocked(rentals_count=1) == {"first_rental"}
    assert unlocked(auction_sales_count=1) == {"first_auction_sold", "first_auction_won"}
    assert unlocked(competitions_won=1) == {"champion"}
    assert "earned_1000" not in unlocked(earnings=Decimal("999.99"))
    assert "earned_1000" in unlocked(earnings=Decimal("1000.00"))
    assert unlocked(level=5) == {"level_5"}
    assert unlocked(level=10) == {"level_5", "level_10"}


def test_already_unlocked_achievements_are_not_unlocked_again():
    assert rules.newly_unlocked(facts(tasks_completed=10), ["first_run"])[0].code == "runs_10"


def test_progress_of_locked_achievements():
    runs_10 = rules.ACHIEVEMENTS_BY_CODE["runs_10"].progress(facts(tasks_completed=4))
    reliable = rules.ACHIEVEMENTS_BY_CODE["reliable"]

    assert (runs_10.label, runs_10.percent) == ("4 / 10 runs", 40)
    assert reliable.progress(facts(total_requests=20)).label == "20 / 50 runs"
    assert (
        reliable.progress(facts(total_requests=50, successful_requests=46)).label
        == "92.0% / 95% success"
    )
