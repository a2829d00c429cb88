"""The rules of the game, in one place: experience (XP), the level curve, achievements.

Everything here is pure: no database, no Django. Services apply these rules to an
AgentStats row under its row lock; pages and the README describe them from here.

Experience
    A successful run earns XP_RUN (10) plus XP_PER_EXTRA_STEP (5) for each step after the
    first, up to XP_EXTRA_STEPS_CAP (4) extra steps: 1 step 10 XP, 2 steps 15, 5+ steps 30.
    Failed and timed-out runs earn nothing (cancelled runs are not counted at all).
    A rater's first 5-star rating of an agent earns XP_FIVE_STAR (25) once per rater, so
    toggling a rating cannot farm XP. A sale earns XP_SALE (100), a rental XP_RENTAL (40).
    A competition's podium earns XP_PODIUM by rank: 1st 200, 2nd 100, 3rd 50, once per
    agent and competition.
    XP is never taken back (a hidden rating keeps the XP it gave).

Levels
    Reaching level n (n >= 2) takes floor(100 * (n - 1) ** 1.5) XP in total, so level 2 is at
    100 XP, 3 at 282, 4 at 519, 5 at 800, 10 at 2700. Computed with integers (isqrt), so
    every machine agrees on the boundaries.

Achievements
    Data (code, name, description, icon) plus a small predicate over the stats. Unlocks are
    permanent: a success rate that later drops keeps "Reliable".
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from math import isqrt
from typing import Protocol

XP_RUN = 10
XP_PER_EXTRA_STEP = 5
XP_EXTRA_STEPS_CAP = 4  # more steps are not better work; cap what a long run can earn
XP_FIVE_STAR = 25
XP_SALE = 100
XP_RENTAL = 40
# A competition's ranks 1, 2, 3 (competitions/services.py competition_settle). A win is worth
# two sales: it beats every other entrant on hidden tasks, and it cannot be farmed (entry
# fees, one entry per agent, at least COMPETITION_MIN_SECONDS per competition).
XP_PODIUM = (200, 100, 50)

# The rating leaderboard ranks only agents with at least this many ratings, so one
# friend's 5 stars cannot put an agent on top.
LEADERBOARD_MIN_RATINGS = 3


def run_xp(*, succeeded: bool, steps: int) -> int:
    """XP for one counted run."""
    if not succeeded:
        return 0
    extra = min(max(steps - 1, 0), XP_EXTRA_STEPS_CAP)
    return XP_RUN + XP_PER_EXTRA_STEP * extra


def sale_xp(*, kind: str) -> int:
    return XP_SALE if kind == "sale" else XP_RENTAL


def podium_xp(*, rank: int) -> int:
    """XP for placing `rank` in a competition: 0 off the podium."""
    return XP_PODIUM[rank - 1] if 1 <= rank <= len(XP_PODIUM) else 0


# --- levels --------------------------------------------------------------------------------


def xp_for_level(level: int) -> int:
    """Total XP needed to reach `level`: floor(100 * (level - 1) ** 1.5), 0 for level 1."""
    if level <= 1:
        return 0
    n = level - 1
    # 100 * n ** 1.5 == sqrt(10_000 * n ** 3); isqrt floors exactly, floats might not.
    return isqrt(10_000 * n**3)


def level_for_xp(xp: int) -> int:
    """The highest level whose threshold `xp` has reached."""
    xp = max(int(xp), 0)
    # Start from the float estimate, then settle on the exact integer boundary.
    level = max(1, int((xp / 100) ** (2 / 3)) + 1)
    while level > 1 and xp_for_level(level) > xp:
        level -= 1
    while xp_for_level(level + 1) <= xp:
        level += 1
    return level


@dataclass(frozen=True)
class LevelProgress:
    level: int
    xp: int
    floor: int  # XP at which this level started
    next_at: int  # XP at which the next level starts

    @property
    def into(self) -> int:
        return self.xp - self.floor

    @property
    def span(self) -> int:
        return self.next_at - self.floor

    @property
    def to_next(self) -> int:
        return self.next_at - self.xp

    @property
    def percent(self) -> int:
        return min(100, self.into * 100 // self.span)


def level_progress(xp: int) -> LevelProgress:
    level = level_for_xp(xp)
    return LevelProgress(
        level=level, xp=xp, floor=xp_for_level(level), next_at=xp_for_level(level + 1)
    )


# --- achievements --------------------------------------------------------------------------


class Facts(Protocol):
    """What predicates read: the counters of an AgentStats row."""

    total_requests: int
    successful_requests: int
    tasks_completed: int
    total_response_ms: int
    rating: float
    total_ratings: int
    five_star_ratings: int
    sales_count: int
    rentals_count: int
    auction_sales_count: int
    competitions_won: int
    earnings: Decimal
    level: int


@dataclass(frozen=True)
class Progress:
    current: float
    target: float
    label: str  # e.g. "37 / 50 runs"

    @property
    def percent(self) -> int:
        if self.target <= 0:
            return 100
        return max(0, min(100, int(self.current * 100 / self.target)))


@dataclass(frozen=True)
class AchievementRule:
    code: str
    name: str
    description: str  # how to get it, shown on locked achievements
    icon: str  # one glyph, shown beside the name (never the only signal)
    check: Callable[[Facts], bool]
    progress: Callable[[Facts], Progress]


def _count(field: str, target: int, unit: str) -> tuple[Callable, Callable]:
    def check(s: Facts) -> bool:
        return getattr(s, field) >= target

    def progress(s: Facts) -> Progress:
        value = getattr(s, field)
        return Progress(min(value, target), target, f"{min(value, target):,} / {target:,} {unit}")

    return check, progress


def _reliable(s: Facts) -> bool:
    # 95% as integers: successes * 100 >= 95 * total, no float rounding at the edge.
    return s.total_requests >= 50 and s.successful_requests * 100 >= 95 * s.total_requests


def _reliable_progress(s: Facts) -> Progress:
    if s.total_requests < 50:
        return Progress(s.total_requests, 50, f"{s.total_requests} / 50 runs")
    rate = s.successful_requests * 100 / s.total_requests
    return Progress(rate, 95, f"{rate:.1f}% / 95% success")


def _crowd_favourite(s: Facts) -> bool:
    return s.total_ratings >= 10 and s.rating >= 4.5


def _crowd_favourite_progress(s: Facts) -> Progress:
    if s.total_ratings < 10:
        return Progress(s.total_ratings, 10, f"{s.total_ratings} / 10 ratings")
    return Progress(s.rating, 4.5, f"{s.rating:.2f} / 4.50 average")


def _fast(s: Facts) -> bool:
    return s.total_requests >= 20 and s.total_response_ms < 2000 * s.total_requests


def _fast_progress(s: Facts) -> Progress:
    if s.total_requests < 20:
        return Progress(s.total_requests, 20, f"{s.total_requests} / 20 runs")
    average = s.total_response_ms / s.total_requests / 1000
    # Lower is better: full when under 2 s, shrinking as the average grows.
    return Progress(min(2.0, 4.0 - average), 2.0, f"{average:.2f} s average, needs < 2 s")


def _earned(s: Facts) -> bool:
    return Decimal(s.earnings) >= 1000


def _earned_progress(s: Facts) -> Progress:
    value = min(Decimal(s.earnings), Decimal(1000))
    return Progress(float(value), 1000, f"{value:,.2f} / 1,000 credits")


ACHIEVEMENTS: list[AchievementRule] = [
    AchievementRule(
        "first_run", "First run", "Complete a run successfully.", "▶",
        *_count("tasks_completed", 1, "runs"),
    ),
    AchievementRule(
        "runs_10", "Ten runs", "Complete 10 runs successfully.", "Ⅹ",
        *_count("tasks_completed", 10, "runs"),
    ),
    AchievementRule(
        "runs_100", "Hundred runs", "Complete 100 runs successfully.", "Ⅽ",
        *_count("tasks_completed", 100, "runs"),
    ),
    AchievementRule(
        "runs_1000", "Thousand runs", "Complete 1,000 runs successfully.", "Ⅿ",
        *_count("tasks_completed", 1000, "runs"),
    ),
    AchievementRule(
        "reliable", "Reliable", "Succeed in at least 95% of runs, over at least 50 runs.", "✔",
        _reliable, _reliable_progress,
    ),
    AchievementRule(
        "fast_responder", "Fast responder",
        "Answer in under 2 seconds on average, over at least 20 runs.", "⚡",
        _fast, _fast_progress,
    ),
    AchievementRule(
        "first_five_star", "First 5-star rating", "Receive a 5-star rating.", "★",
        *_count("five_star_ratings", 1, "5-star ratings"),
    ),
    AchievementRule(
        "crowd_favourite", "Crowd favourite",
        "Hold an average of 4.5 stars or more, over at least 10 ratings.", "♥",
        _crowd_favourite, _crowd_favourite_progress,
    ),
    AchievementRule(
        "first_sale", "First sale", "Be sold on the marketplace.", "¤",
        *_count("sales_count", 1, "sales"),
    ),
    AchievementRule(
        "first_rental", "First rental", "Be rented on the marketplace.", "⌂",
        *_count("rentals_count", 1, "rentals"),
    ),
    AchievementRule(
        "first_auction_sold", "First auction sold", "Be sold at an auction.", "⚖",
        *_count("auction_sales_count", 1, "auctions sold"),
    ),
    AchievementRule(
        "first_auction_won", "First auction won",
        "Be won at an auction by a new owner.", "⚑",
        *_count("auction_sales_count", 1, "auctions won"),
    ),
    AchievementRule(
        "champion", "Champion", "Win a competition (rank 1).", "♛",
        *_count("competitions_won", 1, "competitions won"),
    ),
    AchievementRule(
        "earned_1000", "Earned 1,000 credits",
        "Earn 1,000 credits in sales and rentals.", "◆",
        _earned, _earned_progress,
    ),
    AchievementRule(
        "level_5", "Level 5", f"Reach level 5 ({xp_for_level(5)} XP).", "▲",
        *_count("level", 5, "levels"),
    ),
    AchievementRule(
        "level_10", "Level 10", f"Reach level 10 ({xp_for_level(10)} XP).", "▲▲",
        *_count("level", 10, "levels"),
    ),
]  # fmt: skip

ACHIEVEMENTS_BY_CODE = {rule.code: rule for rule in ACHIEVEMENTS}


def newly_unlocked(facts: Facts, already: set[str] | list[str]) -> list[AchievementRule]:
    """The achievements `facts` qualify for that are not unlocked yet, in definition order."""
    held = set(already)
    return [rule for rule in ACHIEVEMENTS if rule.code not in held and rule.check(facts)]
