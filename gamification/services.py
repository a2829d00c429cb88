"""Gamification services: the only writers of stats, XP, levels, achievements and ratings.

Every write to an agent's stats happens under that row's lock (SELECT ... FOR UPDATE,
taken first), inside the caller's transaction: concurrent runs, ratings and sales of one
agent queue behind each other instead of losing increments, and the derived fields
(level, achievements, the rating average) are computed from what is really committed.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import User
from agents.models import Agent, Run, RunStep
from core.errors import Forbidden, Invalid

from . import rules
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


def agent_stats_create(*, agent: Agent) -> AgentStats:
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
    locked = AgentStats.objects.select_for_update()
    try:
        return locked.get(agent_id=agent_id)  # nearly always there: one statement
    except AgentStats.DoesNotExist:
        # A miss is no error in the database: the transaction goes on. get_or_create
        # settles a race with another creator; the lock is then taken on that row.
        AgentStats.objects.get_or_create(agent_id=agent_id)
        return locked.get(agent_id=agent_id)


def _settle(
    stats: AgentStats,
    *,
    kind: str,
    xp: int,
    run: Run | None = None,
    ledger: bool = True,
    competition_id: int | None = None,
) -> Outcome:
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
            competition_id=competition_id,
            xp=xp,
            level_before=level_before,
            level_after=stats.level,
        )
    return Outcome(event=event, unlocked=unlocked)


# --- runs ----------------------------------------------------------------------------------


@transaction.atomic
def record_run(*, run: Run) -> list[str]:
    """Count a finished run in its agent's stats and award its XP and achievements.

    Called by the agents engine in the transaction that finalises the run (run_finish),
    so the run and its count commit together. Idempotent per run: the XP ledger holds one
    row per counted run. Cancelled runs are the user's choice, not the agent's record: they
    are not counted. Returns the notices (level-ups, unlocks) for the chat.
    """
    if run.status == Run.Status.CANCELLED or not run.is_final or run.agent_id is None:
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


# --- marketplace -----------------------------------------------------------------------------


@transaction.atomic
def record_sale(*, agent: Agent, amount: Decimal | str, kind: str) -> list[str]:
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


@transaction.atomic
def record_auction_sale(*, agent: Agent) -> list[str]:
    """Count an auction of the agent that ended sold (its price is counted by record_sale,
    as for any sale) and unlock the auction achievements. Called by the marketplace's
    auction settlement in the transaction that claims the sale's effects, so exactly once."""
    stats = _locked_stats(agent.pk)
    stats.auction_sales_count += 1
    return _settle(stats, kind=ExperienceEvent.Kind.SALE, xp=0, ledger=False).notices


# --- competitions ----------------------------------------------------------------------------


@transaction.atomic
def record_competition_result(*, agent_id: int, rank: int, competition_id: int) -> list[str]:
    """Count a podium place (rank 1–3) of the agent in a competition: its XP
    (rules.podium_xp), a win for rank 1 (the `champion` achievement), a podium for each.

    Called by the competitions' payout (competition_settle) in its once-only transaction;
    idempotent on its own too: the XP ledger holds one row per agent and competition
    (a unique constraint), checked under the stats lock, so a second call changes nothing.
    """
    xp = rules.podium_xp(rank=rank)
    if not xp:
        return []
    stats = _locked_stats(agent_id)
    if ExperienceEvent.objects.filter(agent_id=agent_id, competition_id=competition_id).exists():
        return []
    stats.competition_podiums += 1
    stats.competitions_won += 1 if rank == 1 else 0
    outcome = _settle(stats, kind=ExperienceEvent.Kind.PODIUM, xp=xp, competition_id=competition_id)
    return outcome.notices


# --- ratings ---------------------------------------------------------------------------------


def rating_eligibility(*, agent: Agent, user: User | AnonymousUser) -> str | None:
    """Why `user` may not rate `agent`, or None if they may: the owner cannot rate, and
    only someone who ran the agent at least once (a finished run) can."""
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
def rating_save(*, agent: Agent, user: User, stars: int, comment: str = "") -> RatingOutcome:
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
def rating_hide(*, rating: Rating, by: User, reason: str) -> Rating:
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
def rating_unhide(*, rating: Rating, by: User) -> Rating:
    stats = _locked_stats(rating.agent_id)
    Rating.objects.filter(pk=rating.pk).update(
        is_hidden=False, hidden_reason="", hidden_by=None, hidden_at=None
    )
    _ratings_recount(stats)
    _settle(stats, kind=ExperienceEvent.Kind.RATING, xp=0, ledger=False)
    rating.refresh_from_db()
    return rating
