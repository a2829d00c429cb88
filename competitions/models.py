"""Competitions: agents against hidden tasks, an entry fee and a prize paid out by rank
(docs/API.md "Competitions"). The money lives in the ledger (marketplace's escrow)."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from marketplace.models import cents, money_field

MONEY = models.DecimalField(max_digits=14, decimal_places=2)


def _per_row(rows: models.QuerySet, aggregate, output_field=None) -> Coalesce:
    """`aggregate` over `rows` (filtered on OuterRef("pk")) as a subquery, 0 when none."""
    value = rows.values("competition").annotate(v=aggregate).values("v")
    return Coalesce(models.Subquery(value, output_field=output_field), 0, output_field=output_field)


class CompetitionQuerySet(models.QuerySet):
    def with_totals(self) -> "CompetitionQuerySet":
        """Annotate each competition's `entries_total` and `fees_total` (per-row
        subqueries: a page of any size costs one query); Competition.pool reads them."""
        entries = Entry.objects.filter(competition=models.OuterRef("pk")).order_by()
        return self.annotate(
            entries_total=_per_row(entries, models.Count("pk")),
            fees_total=_per_row(entries, models.Sum("fee"), MONEY),
        )

    def for_api(self) -> "CompetitionQuerySet":
        """What the API object shows, in a fixed number of queries for any page: the
        organizer joined, the totals, the tasks counted, and the finished ones' placed
        entries prefetched (`placed`)."""
        tasks = Task.objects.filter(competition=models.OuterRef("pk")).order_by()
        return (
            self.select_related("organizer")
            .with_totals()
            .annotate(tasks_total=_per_row(tasks, models.Count("pk")))
            .prefetch_related(
                models.Prefetch(
                    "entries",
                    queryset=Entry.objects.filter(rank__isnull=False)
                    .select_related("owner")
                    .order_by("rank"),
                    to_attr="placed",
                )
            )
        )

    def get_for(self, user, pk, *, need: str = "see") -> "Competition":
        """The access rule: every signed-in user sees a competition; its tasks and its
        cancellation need the organizer (need="organize"): Forbidden otherwise."""
        from core.errors import Forbidden, NotFound

        competition = (
            self.filter(pk=pk).first() if getattr(user, "is_authenticated", False) else None
        )
        if competition is None:
            raise NotFound("Competition not found.")
        if need == "organize" and competition.organizer_id != user.pk:
            raise Forbidden("Only the organizer can do this.")
        return competition


class Competition(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        JUDGING = "judging"
        FINISHED = "finished"
        CANCELLED = "cancelled"

    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="competitions"
    )
    title = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=2000)
    entry_fee = money_field()
    prize = money_field()
    closes_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # Why a competition was cancelled (by its organizer, by staff, nobody solved a task).
    status_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = CompetitionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "closes_at"], name="competition_status_closes")]

    def __str__(self) -> str:
        return self.title

    @property
    def pool(self) -> Decimal:
        """The prize plus every entry fee (the annotated `fees_total` when read through
        with_totals(), else one query)."""
        fees = (
            self.fees_total  # type: ignore[attr-defined]
            if hasattr(self, "fees_total")
            else self.entries.aggregate(total=models.Sum("fee"))["total"]
        )
        return self.prize + cents(fees)

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN and self.closes_at > timezone.now()


class Task(models.Model):
    """A hidden task: only the organizer ever sees its prompt and expected answer."""

    class Grader(models.TextChoices):
        EXACT = "exact"
        CONTAINS = "contains"
        NUMBER = "number"

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="tasks")
    position = models.PositiveSmallIntegerField()
    prompt = models.TextField(max_length=5000)
    expected = models.TextField()
    grader = models.CharField(max_length=10, choices=Grader.choices)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["competition", "position"], name="task_position_unique")
        ]

    def __str__(self) -> str:
        return f"Task {self.position} of competition #{self.competition_id}"


class Entry(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="entries")
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agent_name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="competition_entries"
    )
    fee = money_field()
    score = models.PositiveIntegerField(default=0)
    duration_ms = models.BigIntegerField(default=0)
    rank = models.PositiveIntegerField(null=True, blank=True)
    payout = money_field(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "entries"
        constraints = [
            models.UniqueConstraint(fields=["competition", "agent"], name="entry_agent_unique")
        ]

    def __str__(self) -> str:
        return f"{self.agent_name} in competition #{self.competition_id}"


class Evaluation(models.Model):
    """One entry × task: claimed (pending → running) before its run starts, graded once
    (running → passed/failed); the unique pair means no task is graded twice."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="evaluations")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="evaluations")
    competition = models.ForeignKey(
        Competition, on_delete=models.CASCADE, related_name="evaluations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    run = models.ForeignKey(
        "agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    duration_ms = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    graded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["competition", "status"], name="evaluation_comp_status")]
        constraints = [
            models.UniqueConstraint(fields=["entry", "task"], name="evaluation_entry_task_unique")
        ]

    def __str__(self) -> str:
        return f"{self.status}: entry #{self.entry_id}, task #{self.task_id}"
