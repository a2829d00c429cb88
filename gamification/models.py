from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from . import rules


class AgentStatsQuerySet(models.QuerySet):
    def leaderboard(self, *, sort: str, agents, ranked: bool = True) -> "AgentStatsQuerySet":
        """Stats of `agents` (a queryset) ranked by `sort` (xp, rating, earnings), each row
        annotated with its `rank` unless `ranked` is false (a page that numbers its rows from
        its offset needs no window over every row). The rating ranking needs a minimum
        number of ratings."""
        order = [
            F(name[1:]).desc() if name.startswith("-") else F(name).asc()
            for name in LEADERBOARD_ORDER[sort]
        ]
        # EXISTS per row, not IN (every visible agent): walking the sort's index, a page
        # checks about as many agents as it shows (issue 13).
        rows = self.filter(Exists(agents.filter(pk=OuterRef("agent_id"))))
        if sort == "rating":
            rows = rows.filter(total_ratings__gte=rules.LEADERBOARD_MIN_RATINGS)
        rows = rows.select_related("agent__owner").order_by(*LEADERBOARD_ORDER[sort])
        return rows.annotate(rank=Window(RowNumber(), order_by=order)) if ranked else rows


class AgentStats(models.Model):
    """One row per agent: the counters of docs/API.md's AgentStats, updated by services only,
    always under this row's lock (see services._locked_stats)."""

    agent = models.OneToOneField("agents.Agent", on_delete=models.CASCADE, related_name="stats")
    total_requests = models.PositiveIntegerField(default=0)
    successful_requests = models.PositiveIntegerField(default=0)
    failed_requests = models.PositiveIntegerField(default=0)
    # Sum of the response times of counted runs; the average is derived from it, so
    # concurrent updates never lose precision or increments.
    total_response_ms = models.PositiveBigIntegerField(default=0)
    rating = models.FloatField(default=0)
    total_ratings = models.PositiveIntegerField(default=0)
    five_star_ratings = models.PositiveIntegerField(default=0)
    earnings = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0.00"))
    sales_count = models.PositiveIntegerField(default=0)
    rentals_count = models.PositiveIntegerField(default=0)
    # Auctions of this agent that ended sold (marketplace/auctions.py settlement).
    auction_sales_count = models.PositiveIntegerField(default=0)
    # Competitions this agent won (rank 1) and placed in (ranks 1–3), counted by
    # record_competition_result when a competition is paid out (competitions/services.py).
    competitions_won = models.PositiveIntegerField(default=0)
    competition_podiums = models.PositiveIntegerField(default=0)
    tasks_completed = models.PositiveIntegerField(default=0)
    level = models.PositiveIntegerField(default=1)
    experience_points = models.PositiveIntegerField(default=0)
    # Codes of the unlocked achievements in unlock order: a copy of AgentAchievement kept
    # here so agent lists and the leaderboard need no extra query per page.
    achievement_codes = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentStatsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "agent stats"
        indexes = [
            models.Index(fields=["-experience_points"], name="stats_by_xp"),
            models.Index(fields=["-rating", "-total_ratings"], name="stats_by_rating"),
            models.Index(fields=["-earnings"], name="stats_by_earnings"),
            # The marketplace's sorts by rating and level (marketplace.models.
            # StatsSortedListings), ties broken by the agent, either direction.
            models.Index(fields=["rating", "agent"], name="stats_rating_agent"),
            models.Index(fields=["level", "agent"], name="stats_level_agent"),
        ]

    def __str__(self) -> str:
        return f"Stats of {self.agent}"

    @property
    def average_response_time(self) -> float:
        """Seconds per counted run (succeeded or failed)."""
        if not self.total_requests:
            return 0.0
        return round(self.total_response_ms / self.total_requests / 1000, 3)

    @property
    def success_rate(self) -> float | None:
        if not self.total_requests:
            return None
        return self.successful_requests / self.total_requests

    @property
    def success_percent(self) -> float | None:
        rate = self.success_rate
        return None if rate is None else round(rate * 100, 1)

    @property
    def level_progress(self) -> rules.LevelProgress:
        return rules.level_progress(self.experience_points)

    def payload(self) -> dict:
        """docs/API.md's AgentStats. The agents API embeds it in every agent object, reading
        it through the agent's reverse relation (`agent.stats.payload()`)."""
        return {
            "total_requests": self.total_requests,
            "successful_requests": self.successful_requests,
            "failed_requests": self.failed_requests,
            "average_response_time": self.average_response_time,
            "rating": self.rating,
            "total_ratings": self.total_ratings,
            "earnings": f"{self.earnings:.2f}",
            "tasks_completed": self.tasks_completed,
            "level": self.level,
            "experience_points": self.experience_points,
            "achievements": list(self.achievement_codes),
            "competitions_won": self.competitions_won,
            "competition_podiums": self.competition_podiums,
        }


# Ties break on the agent id so pages never shuffle between requests.
LEADERBOARD_ORDER = {
    "xp": ("-experience_points", "agent_id"),
    "rating": ("-rating", "-total_ratings", "agent_id"),
    "earnings": ("-earnings", "-experience_points", "agent_id"),
}


class Achievement(models.Model):
    """An achievement's definition. The rules (gamification.rules.ACHIEVEMENTS) are the
    source; achievements_sync() copies them here so unlocks can point at a row."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300)
    icon = models.CharField(max_length=8)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.name

    @property
    def rule(self) -> rules.AchievementRule | None:
        return rules.ACHIEVEMENTS_BY_CODE.get(self.code)


class AgentAchievementQuerySet(models.QuerySet):
    def unlock_dates(self, agent_ids) -> dict[int, dict[str, object]]:
        """{agent_id: {code: unlocked_at}} in one query."""
        dates: dict[int, dict[str, object]] = {}
        rows = self.filter(agent_id__in=list(agent_ids)).values_list(
            "agent_id", "achievement__code", "unlocked_at"
        )
        for agent_id, code, when in rows:
            dates.setdefault(agent_id, {})[code] = when
        return dates


class AgentAchievement(models.Model):
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, related_name="achievement_unlocks"
    )
    achievement = models.ForeignKey(Achievement, on_delete=models.CASCADE, related_name="unlocks")
    unlocked_at = models.DateTimeField(default=timezone.now)
    # The run that unlocked it, so the chat can say so under that run (run_notices).
    run = models.ForeignKey(
        "agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AgentAchievementQuerySet.as_manager()

    class Meta:
        ordering = ["-unlocked_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "achievement"], name="one_unlock_per_agent")
        ]

    def __str__(self) -> str:
        return f"{self.agent}: {self.achievement}"


class ExperienceEvent(models.Model):
    """XP ledger: every award, with the level before and after. One row per counted run
    (even at 0 XP), which also makes record_run idempotent; likewise one row per placed
    agent and competition (`competition_id`) makes record_competition_result idempotent."""

    class Kind(models.TextChoices):
        RUN = "run"
        RATING = "rating"
        SALE = "sale"
        RENTAL = "rental"
        PODIUM = "podium"  # a competition rank 1–3

    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.CASCADE, related_name="experience_events"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    run = models.OneToOneField(
        "agents.Run",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="experience_event",
    )
    # The competition a podium place was earned in: a plain id, not a foreign key, since
    # competitions sit above gamification (docs/STYLE.md, layers).
    competition_id = models.BigIntegerField(null=True, blank=True)
    xp = models.PositiveIntegerField(default=0)
    level_before = models.PositiveIntegerField(default=1)
    level_after = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["agent", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "competition_id"],
                condition=Q(competition_id__isnull=False),
                name="one_competition_award_per_agent",
            )
        ]

    def __str__(self) -> str:
        return f"{self.agent} +{self.xp} XP ({self.kind})"

    @property
    def levelled_up(self) -> bool:
        return self.level_after > self.level_before


class RatingQuerySet(models.QuerySet):
    def shown(self) -> "RatingQuerySet":
        """Ratings not hidden by a moderator: the ones listed and averaged."""
        return self.filter(is_hidden=False)

    def for_agent(self, agent) -> "RatingQuerySet":
        return self.filter(agent=agent)


class Rating(models.Model):
    agent = models.ForeignKey("agents.Agent", on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings"
    )
    stars = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(max_length=2000, blank=True)
    # Moderation: a hidden rating is neither listed nor averaged; the reason is required.
    is_hidden = models.BooleanField(default=False)
    hidden_reason = models.CharField(max_length=300, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    hidden_at = models.DateTimeField(null=True, blank=True)
    # Set once this rater's 5 stars paid XP: re-rating 4 → 5 → 4 → 5 pays only once.
    five_star_xp_awarded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RatingQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(stars__gte=1) & Q(stars__lte=5), name="rating_stars_1_to_5"
            ),
            models.UniqueConstraint(fields=["agent", "user"], name="one_rating_per_user"),
            models.CheckConstraint(
                condition=Q(is_hidden=False) | ~Q(hidden_reason=""),
                name="hidden_rating_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["agent", "is_hidden", "-updated_at"])]

    def __str__(self) -> str:
        return f"{self.stars}★ for {self.agent} by {self.user}"

    @property
    def star_glyphs(self) -> str:
        return "★" * self.stars + "☆" * (5 - self.stars)
