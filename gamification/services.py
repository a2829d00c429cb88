"""Gamification services: the only writers of stats, XP, levels, achievements and ratings.

Every write to an agent's stats happens under that row's lock (SELECT ... FOR UPDATE,
taken first), inside the caller's transaction: concurrent runs, ratings and sales of one
agent queue behind each other instead of losing increments, and the derived fields
(level, achievements, the rating average) are computed from what is really committed.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.errors import Forbidden, Invalid

from . import charts, rules
from .models import Achievement, AgentAchievement, AgentStats, ExperienceEvent, Rating

COMMENT_MAX = 2000


@dataclass
class Outcome:
    """What one event changed: the XP ledger row (if any) and the new unlocks."""

    event: ExperienceEvent | None = None
    unlocked: list[rules.AchievementRule] = field(default_factory=list)

    @property
    def notices(self) -> list[str]:
        notices = [f"Achievement unlocked: {rule.name}" for rule in self.unlocked]
        if self.event and self.event.levelled_up:
            notices.insert(0, f"Level {self.event.level_after} reached")
        return notices


@dataclass
class RatingOutcome:
    rating: Rating
    created: bool
    notices: list[str]


def agent_stats_create(*, agent) -> AgentStats:
    stats, _created = AgentStats.objects.get_or_create(agent=agent)
    return stats


def achievements_sync() -> dict[str, Achievement]:
    """Copy the rules' achievement definitions into their table (idempotent). The data
    migration does this once; tests that flush tables and new releases call it again."""
    existing = Achievement.objects.in_bulk(field_name="code")
    for position, rule in enumerate(rules.ACHIEVEMENTS):
        values = {
            "name": rule.name,
            "description": rule.description,
            "icon": rule.icon,
            "position": position,
        }
        row = existing.get(rule.code)
        if row is None:
            existing[rule.code] = Achievement.objects.create(code=rule.code, **values)
        elif any(getattr(row, name) != value for name, value in values.items()):
            Achievement.objects.filter(pk=row.pk).update(**values)
    return existing


# --- the one path every award takes --------------------------------------------------------


def _locked_stats(agent_id: int) -> AgentStats:
    """The agent's stats row, created if missing, locked until the transaction ends."""
    AgentStats.objects.get_or_create(agent_id=agent_id)
    return AgentStats.objects.select_for_update().get(agent_id=agent_id)


def _settle(stats: AgentStats, *, kind: str, xp: int, run=None, ledger: bool = True) -> Outcome:
    """After the counters changed: add XP, recompute the level, unlock what is now earned,
    save, and write the XP ledger row. The caller holds the row lock."""
    level_before = stats.level
    stats.experience_points += xp
    stats.level = rules.level_for_xp(stats.experience_points)
    unlocked = rules.newly_unlocked(stats, stats.achievement_codes)
    if unlocked:
        definitions = Achievement.objects.in_bulk(
            [rule.code for rule in unlocked], field_name="code"
        )
        if len(definitions) < len(unlocked):
            definitions = achievements_sync()  # a flushed or not yet migrated table
        now = timezone.now()
        AgentAchievement.objects.bulk_create(
            [
                AgentAchievement(
                    agent_id=stats.agent_id,
                    achievement=definitions[rule.code],
                    unlocked_at=now,
                    run=run,
                )
                for rule in unlocked
            ],
            # The codes on the row are the lock-protected truth; this only guards a row
            # written by hand (admin) from turning an award into an error.
            ignore_conflicts=True,
        )
        stats.achievement_codes = [*stats.achievement_codes, *(rule.code for rule in unlocked)]
    stats.save()
    event = None
    if ledger:
        event = ExperienceEvent.objects.create(
            agent_id=stats.agent_id,
            kind=kind,
            run=run,
            xp=xp,
            level_before=level_before,
            level_after=stats.level,
        )
    return Outcome(event=event, unlocked=unlocked)


# --- runs ----------------------------------------------------------------------------------


@transaction.atomic
def record_run(*, run) -> list[str]:
    """Count a finished run in its agent's stats and award its XP and achievements.

    Called by the agents engine in the transaction that finalises the run (run_finish),
    so the run and its count commit together. Idempotent per run: the XP ledger holds one
    row per counted run. Cancelled runs are the user's choice, not the agent's record: they
    are not counted. Returns the notices (level-ups, unlocks) for the chat.
    """
    from agents.models import Run, RunStep

    if run.status == Run.Status.CANCELLED or not run.is_final:
        return []
    stats = _locked_stats(run.agent_id)
    # Checked under the lock: a second call for the same run sees the first one's row.
    if ExperienceEvent.objects.filter(run_id=run.pk).exists():
        return []
    succeeded = run.status == Run.Status.SUCCEEDED
    steps = 0
    if succeeded:
        steps = run.steps.exclude(kind=RunStep.Kind.PLANNING).count()
    stats.total_requests += 1
    stats.successful_requests += 1 if succeeded else 0
    stats.failed_requests += 0 if succeeded else 1
    stats.tasks_completed += 1 if succeeded else 0
    stats.total_response_ms += run.duration_ms or 0
    outcome = _settle(
        stats,
        kind=ExperienceEvent.Kind.RUN,
        xp=rules.run_xp(succeeded=succeeded, steps=steps),
        run=run,
    )
    return outcome.notices


def run_notices(*, run) -> list[str]:
    """Short notices for what a finished run unlocked ("Level 2 reached", "Achievement
    unlocked: First run"), shown in the chat under that run. Empty until it is counted."""
    event = ExperienceEvent.objects.filter(run_id=run.pk).first()
    if event is None:
        return []
    codes = set(
        AgentAchievement.objects.filter(run_id=run.pk).values_list("achievement__code", flat=True)
    )
    unlocked = [rule for rule in rules.ACHIEVEMENTS if rule.code in codes]
    return Outcome(event=event, unlocked=unlocked).notices


# --- marketplace -----------------------------------------------------------------------------


@transaction.atomic
def record_sale(*, agent, amount, kind: str) -> list[str]:
    """Count the seller's income from a sale or rental (kind: "sale" | "rental") in the
    agent's stats, with its XP and achievements, inside the marketplace's transaction."""
    if kind not in ("sale", "rental"):
        raise ValueError(f"kind must be 'sale' or 'rental', not {kind!r}")
    try:
        amount = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"amount must be a decimal, not {amount!r}") from None
    stats = _locked_stats(agent.pk)
    stats.earnings = stats.earnings + amount
    if kind == "sale":
        stats.sales_count += 1
    else:
        stats.rentals_count += 1
    return _settle(stats, kind=kind, xp=rules.sale_xp(kind=kind)).notices


# --- ratings ---------------------------------------------------------------------------------


def rating_eligibility(*, agent, user) -> str | None:
    """Why `user` may not rate `agent`, or None if they may: the owner cannot rate, and
    only someone who ran the agent at least once (a finished run) can."""
    from agents.models import Run

    if not user.is_authenticated:
        return "Log in to rate agents."
    if agent.owner_id == user.pk:
        return "You own this agent, so you cannot rate it."
    ran = Run.objects.final().filter(agent_id=agent.pk, user_id=user.pk).exists()
    if not ran:
        return "Run this agent at least once before rating it."
    return None


def _ratings_recount(stats: AgentStats) -> None:
    """The average from the rows themselves, never adjusted incrementally, so it cannot
    drift. The caller holds the stats lock, so no other rating write interleaves."""
    totals = (
        Rating.objects.shown()
        .filter(agent_id=stats.agent_id)
        .aggregate(count=Count("id"), total=Sum("stars"), five=Count("id", filter=Q(stars=5)))
    )
    stats.total_ratings = totals["count"]
    stats.five_star_ratings = totals["five"]
    stats.rating = totals["total"] / totals["count"] if totals["count"] else 0.0


@transaction.atomic
def rating_save(*, agent, user, stars: int, comment: str = "") -> RatingOutcome:
    """Create or update `user`'s rating of `agent` and recompute its average.

    A rater's first 5 stars for an agent pay XP once; a hidden rating stays hidden when
    its author edits it (moderation is not undone by editing).
    """
    reason = rating_eligibility(agent=agent, user=user)
    if reason:
        raise Forbidden(reason)
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise Invalid([{"loc": ["stars"], "msg": "Stars must be a whole number from 1 to 5."}])
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:
        raise Invalid([{"loc": ["comment"], "msg": f"At most {COMMENT_MAX} characters."}])
    # Lock the stats first: ratings of one agent are then written one at a time, and the
    # recount below sees every committed rating.
    stats = _locked_stats(agent.pk)
    rating, created = Rating.objects.get_or_create(
        agent_id=agent.pk, user=user, defaults={"stars": stars, "comment": comment}
    )
    if not created:
        rating.stars, rating.comment = stars, comment
    xp = 0
    if stars == 5 and not rating.five_star_xp_awarded:
        rating.five_star_xp_awarded = True
        xp = rules.XP_FIVE_STAR
    rating.save()
    _ratings_recount(stats)
    outcome = _settle(stats, kind=ExperienceEvent.Kind.RATING, xp=xp, ledger=xp > 0)
    return RatingOutcome(rating=rating, created=created, notices=outcome.notices)


@transaction.atomic
def rating_hide(*, rating: Rating, by, reason: str) -> Rating:
    """Moderation: hide a rating (with a reason) from the list and the average."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Give a reason for hiding the rating.")
    stats = _locked_stats(rating.agent_id)
    Rating.objects.filter(pk=rating.pk).update(
        is_hidden=True, hidden_reason=reason[:300], hidden_by=by, hidden_at=timezone.now()
    )
    _ratings_recount(stats)
    _settle(stats, kind=ExperienceEvent.Kind.RATING, xp=0, ledger=False)
    rating.refresh_from_db()
    return rating


@transaction.atomic
def rating_unhide(*, rating: Rating, by) -> Rating:
    stats = _locked_stats(rating.agent_id)
    Rating.objects.filter(pk=rating.pk).update(
        is_hidden=False, hidden_reason="", hidden_by=None, hidden_at=None
    )
    _ratings_recount(stats)
    _settle(stats, kind=ExperienceEvent.Kind.RATING, xp=0, ledger=False)
    rating.refresh_from_db()
    return rating


# --- reads for pages and the API -------------------------------------------------------------


def _stats_of(agent) -> AgentStats:
    """The agent's stats row, or zeros before its first count (never saved here)."""
    stats = getattr(agent, "stats", None)
    return stats if stats is not None else AgentStats(agent=agent)


def stats_payload(*, agent) -> dict:
    """API.md's AgentStats for one agent (zeros before its first run). No queries when the
    agent was fetched with select_related("stats")."""
    stats = _stats_of(agent)
    return {
        "total_requests": stats.total_requests,
        "successful_requests": stats.successful_requests,
        "failed_requests": stats.failed_requests,
        "average_response_time": stats.average_response_time,
        "rating": stats.rating,
        "total_ratings": stats.total_ratings,
        "earnings": f"{stats.earnings:.2f}",
        "tasks_completed": stats.tasks_completed,
        "level": stats.level,
        "experience_points": stats.experience_points,
        "achievements": list(stats.achievement_codes),
    }


def runs_per_day(*, agent, days: int = 14) -> list[tuple]:
    """[(date, counted runs finished that day)] for the last `days` days, oldest first."""
    from agents.models import Run

    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    counts = dict(
        Run.objects.final()
        .filter(agent_id=agent.pk, finished_at__date__gte=first)
        .exclude(status=Run.Status.CANCELLED)
        .annotate(day=TruncDate("finished_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return [(day, counts.get(day, 0)) for day in (first + timedelta(n) for n in range(days))]


def achievement_board(*, stats: AgentStats, unlocked_at: dict[str, object]) -> list[dict]:
    """Every achievement for one agent: unlocked ones with their date, locked ones with
    how to get them and how far along the agent is."""
    held = set(stats.achievement_codes)
    return [
        {
            "rule": rule,
            "unlocked": rule.code in held,
            "unlocked_at": unlocked_at.get(rule.code),
            "progress": rule.progress(stats),
        }
        for rule in rules.ACHIEVEMENTS
    ]


def unlock_dates(*, agent_ids) -> dict[int, dict[str, object]]:
    """{agent_id: {code: unlocked_at}} in one query."""
    dates: dict[int, dict[str, object]] = {}
    rows = AgentAchievement.objects.filter(agent_id__in=list(agent_ids)).values_list(
        "agent_id", "achievement__code", "unlocked_at"
    )
    for agent_id, code, when in rows:
        dates.setdefault(agent_id, {})[code] = when
    return dates


def agent_panel_context(*, agent, user) -> dict:
    """What the agent page's stats panel needs: the stats and their pictures, level and
    XP bar, achievements (locked ones with how to get them), ratings and the rating form."""
    from .forms import RatingForm

    stats = _stats_of(agent)
    ratings = list(Rating.objects.shown().for_agent(agent).select_related("user")[:20])
    mine = None
    if user.is_authenticated:
        mine = next((r for r in ratings if r.user_id == user.pk), None) or (
            Rating.objects.filter(agent_id=agent.pk, user_id=user.pk).first()
        )
    refusal = rating_eligibility(agent=agent, user=user)
    initial = {"stars": mine.stars, "comment": mine.comment} if mine else {}
    dates = unlock_dates(agent_ids=[agent.pk]).get(agent.pk, {})
    latest = max(dates.items(), key=lambda item: item[1], default=None)
    return {
        "stats": stats,
        "level": stats.level_progress,
        "success_bar": charts.success_bar(
            succeeded=stats.successful_requests, failed=stats.failed_requests
        ),
        "sparkline": charts.sparkline(runs_per_day(agent=agent)),
        "achievements": achievement_board(stats=stats, unlocked_at=dates),
        "unlocked_count": len(stats.achievement_codes),
        "achievement_count": len(rules.ACHIEVEMENTS),
        "latest_unlock": (
            {"rule": rules.ACHIEVEMENTS_BY_CODE[latest[0]], "at": latest[1]}
            if latest and latest[0] in rules.ACHIEVEMENTS_BY_CODE
            else None
        ),
        "ratings": ratings,
        "my_rating": mine,
        "can_rate": refusal is None,
        "rate_refusal": refusal,
        "is_owner": agent.is_owned_by(user),
        "form": RatingForm(initial=initial),
    }
