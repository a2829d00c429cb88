from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.errors import Forbidden, NotFound
from core.pagecache import related_table, row_version, rows_version

NEEDS = ("see", "review", "use", "edit", "own")

REFUSALS = {
    "use": "Only the owner, a renter or a collaborator can chat with this agent.",
    # Editors (social collaborators) may edit too; the wording is shared with "own" (and
    # tests/test_site.py asserts it).
    "edit": "Only the agent's owner can do this.",
    "own": "Only the agent's owner can do this.",
}


def visible_sql(alias: str) -> str:
    """AgentQuerySet.visible_to as a SQL condition on the agents table aliased `alias`, over
    the parameters `viewer` (None for a visitor) and `now`: what page fingerprints select
    by (core.pagecache). tests/agents/test_page_cache.py holds the two to the same rows."""
    rentals, listings, collaborators = (
        related_table(Agent, name) for name in ("rentals", "listings", "collaborators")
    )
    return (
        f"({alias}.owner_id = %(viewer)s"
        f" OR {alias}.id IN (SELECT r.agent_id FROM {rentals} r WHERE r.renter_id = %(viewer)s"
        " AND r.expires_at > %(now)s)"
        f" OR {alias}.id IN (SELECT c.agent_id FROM {collaborators} c"
        " WHERE c.user_id = %(viewer)s)"
        f" OR EXISTS (SELECT 1 FROM {listings} l WHERE l.agent_id = {alias}.id"
        " AND l.status = 'active')"
        f" OR ({alias}.visibility = 'public' AND %(viewer)s::bigint IS NOT NULL))"
    )


def usable_page_sql(*, limit: int, offset: int = 0) -> list[str]:
    """Page fingerprint parts (core.pagecache) for a page of AgentQuerySet.usable_by(viewer)
    newest first (the dashboard's and the API list's order): how many there are, and the
    page's rows with their stats row, owner and forks count. Owned, rented and shared are
    each read on their own index, as usable_by explains."""
    agents = Agent._meta.db_table
    stats, users, rentals, collaborators = (
        related_table(Agent, name) for name in ("stats", "owner", "rentals", "collaborators")
    )
    others = (
        f"SELECT r.agent_id FROM {rentals} r WHERE r.renter_id = %(viewer)s"
        f" AND r.expires_at > %(now)s UNION SELECT c.agent_id FROM {collaborators} c"
        " WHERE c.user_id = %(viewer)s"
    )
    order = "ORDER BY a.updated_at DESC, a.id DESC"
    first = f"{order} LIMIT {int(offset) + int(limit)}"
    row = f"{row_version('a')} AS v, a.id, a.updated_at, a.owner_id"
    return [
        # Owned (counted on the owner index alone), plus rented or shared and not owned.
        f"SELECT (SELECT count(*) FROM {agents} a WHERE a.owner_id = %(viewer)s)"
        f" + (SELECT count(*) FROM ({others}) x WHERE NOT EXISTS (SELECT FROM {agents} a"
        " WHERE a.id = x.agent_id AND a.owner_id = %(viewer)s))",
        rows_version(
            f"SELECT a.v || coalesce({row_version('s')}, '') || {row_version('o')}"
            f" || (SELECT count(*) FROM {agents} f WHERE f.forked_from_id = a.id)::text AS v"
            f" FROM ((SELECT {row} FROM {agents} a WHERE a.owner_id = %(viewer)s {first})"
            f" UNION (SELECT {row} FROM {agents} a WHERE a.id IN ({others}) {first})) a"
            f" LEFT JOIN {stats} s ON s.agent_id = a.id JOIN {users} o ON o.id = a.owner_id"
            f" {order} LIMIT {int(limit)} OFFSET {int(offset)}"
        ),
    ]


class AgentQuerySet(models.QuerySet):
    # Rentals and listings belong to the marketplace, which sits above agents: they are
    # read here through their reverse relations ("rentals", "listings"), never by importing
    # marketplace code (docs/DESIGN.md, Layout). Collaborators (social, also above agents)
    # likewise, through "collaborators".

    def owned_by(self, user) -> "AgentQuerySet":
        return self.filter(owner=user)

    def _rented_by(self, user) -> models.QuerySet:
        rental = Agent._meta.get_field("rentals").related_model
        return (
            rental._default_manager.filter(renter=user, expires_at__gt=timezone.now())
            .order_by()
            .values("agent_id")
        )

    def _listed_q(self) -> Q:
        # A correlated EXISTS on the listing's one-active-listing-per-agent index, not an IN
        # over every listed agent: a page of 25 probes 25 rows, whatever the number of
        # listings (issue 13). The model through the relation: agents never import marketplace.
        listing = Agent._meta.get_field("listings").related_model
        return Q(Exists(listing._default_manager.filter(agent=OuterRef("pk"), status="active")))

    def _collaborating(self, user, roles: tuple[str, ...] | None = None) -> models.QuerySet:
        collaborator = Agent._meta.get_field("collaborators").related_model
        rows = collaborator._default_manager.filter(user=user)
        if roles is not None:
            rows = rows.filter(role__in=roles)
        return rows.order_by().values("agent_id")

    def _usable_q(self, user) -> Q:
        if not getattr(user, "is_authenticated", False):
            return Q(pk__in=[])
        return Q(owner=user) | Q(pk__in=self._rented_by(user)) | Q(pk__in=self._collaborating(user))

    def _public_q(self, user) -> Q:
        # Public agents are readable by every signed-in user, never by visitors.
        if not getattr(user, "is_authenticated", False):
            return Q(pk__in=[])
        return Q(visibility=Agent.Visibility.PUBLIC)

    def public(self) -> "AgentQuerySet":
        return self.filter(visibility=Agent.Visibility.PUBLIC)

    def editable_by(self, user) -> "AgentQuerySet":
        """Agents the user may change, start and stop: owned, or as an editor."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(Q(owner=user) | Q(pk__in=self._collaborating(user, ("editor",))))

    def with_forks_count(self) -> "AgentQuerySet":
        """Annotate `forks_total`: how many agents were forked from each (a subquery per row,
        on the forked_from index)."""
        forks = (
            Agent.objects.filter(forked_from=OuterRef("pk"))
            .order_by()
            .values("forked_from")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return self.annotate(forks_total=Coalesce(Subquery(forks), 0))

    def usable_by(self, user) -> "AgentQuerySet":
        """Agents the user may chat with: owned, held through an unexpired rental, or shared
        with them as a collaborator (either role).

        For lists (the dashboard, the API): the few rented and shared ids are read first (one
        query over two indexes), so the list is `owner = me OR id IN (…ids)`, which PostgreSQL
        answers from the owner and primary-key indexes; the same rule written with two IN
        subqueries made it read every agent (issue 13). A check on one agent goes through
        `_usable_q`, which needs no first query."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        shared = [row["agent_id"] for row in self._rented_by(user).union(self._collaborating(user))]
        if not shared:
            return self.filter(owner=user)
        return self.filter(Q(owner=user) | Q(pk__in=shared))

    def visible_to(self, user) -> "AgentQuerySet":
        """Usable agents plus those anyone may look at (an active listing) and, for signed-in
        users, public agents (in SQL for page fingerprints: visible_sql)."""
        return self.filter(self._usable_q(user) | self._listed_q() | self._public_q(user))

    def reviewable_by(self, user) -> "AgentQuerySet":
        """Visible agents plus those the user ran before: a past renter still sees the
        agent's stats and ratings, and may rate it."""
        if not getattr(user, "is_authenticated", False):
            return self.visible_to(user)
        ran = Run.objects.filter(user=user).values("agent_id")
        return self.filter(
            self._usable_q(user) | self._listed_q() | self._public_q(user) | Q(pk__in=ran)
        )

    def with_rental_expiry(self, user) -> "AgentQuerySet":
        """Annotate `rental_expires_at`: the end of the user's unexpired rental, or None. A
        subquery per row, not a join and GROUP BY: under a LIMIT, PostgreSQL evaluates it
        for the page's rows only (issue 13)."""
        rental = Agent._meta.get_field("rentals").related_model
        latest = (
            rental._default_manager.filter(
                agent=OuterRef("pk"), renter=user, expires_at__gt=timezone.now()
            )
            .order_by("-expires_at")
            .values("expires_at")[:1]
        )
        return self.annotate(rental_expires_at=Subquery(latest))

    def get_for(self, user, pk, *, need: str = "see") -> "Agent":
        """The access rule for agents, shared by pages and the API.

        need: "see" (the page, read-only), "review" (stats and ratings), "use" (chat),
        "edit" (change, start, stop) or "own" (delete, list, sell). Raises NotFound when the
        user may not know the agent exists, Forbidden when they may see it but not do this.
        """
        if need not in NEEDS:
            raise ValueError(f"need must be one of {NEEDS}, not {need!r}")
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound("Agent not found.") from None

        def scope() -> "AgentQuerySet":
            return self.reviewable_by(user) if need == "review" else self.visible_to(user)

        if getattr(user, "is_authenticated", False):
            # The owner sees their agent whatever else holds: one query by id, without the
            # visibility subqueries, whose building costs more than the rest of an agent
            # page (issue 13). Anyone else: also among the agents the rule lets them see.
            agent = self.filter(pk=pk).first()
            if agent is not None and agent.owner_id != user.pk:
                agent = agent if scope().filter(pk=pk).exists() else None
        else:
            agent = scope().filter(pk=pk).first()
        if agent is None:
            raise NotFound("Agent not found.")
        if not agent.permits(user, need):
            raise Forbidden(REFUSALS[need])
        return agent


class Agent(models.Model):
    class State(models.TextChoices):
        CREATED = "created"
        RUNNING = "running"
        STOPPED = "stopped"
        ERROR = "error"

    class Visibility(models.TextChoices):
        PRIVATE = "private"
        PUBLIC = "public"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=2000, blank=True)
    # Tool names from the tools registry; resolved to their latest valid version per run.
    tools = models.JSONField(default=list, blank=True)
    model = models.CharField(
        max_length=200, help_text="hf:<repo>, openai:<model> or litellm:<model>"
    )
    allowed_imports = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CREATED)
    state_reason = models.TextField(blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    # Lineage: the agent this one was forked from (NULL once that one is deleted), and its
    # name and owner then, so "forked from" survives the parent's deletion.
    forked_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="forks"
    )
    forked_from_name = models.CharField(max_length=100, blank=True)
    forked_from_owner = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "state"]),
            models.Index(fields=["visibility", "-updated_at"], name="agent_visibility_updated"),
            # The dashboard and the API list, newest first: a page of 25 walks 25 entries.
            models.Index(fields=["owner", "-updated_at", "-id"], name="agent_owner_updated"),
        ]

    def __str__(self) -> str:
        return self.name

    def is_owned_by(self, user) -> bool:
        return user.is_authenticated and self.owner_id == user.pk

    @property
    def is_public(self) -> bool:
        return self.visibility == Agent.Visibility.PUBLIC

    @property
    def is_fork(self) -> bool:
        return bool(self.forked_from_id or self.forked_from_name)

    def is_usable_by(self, user) -> bool:
        """May this user chat with the agent? The owner, a renter until expiry, or a
        collaborator (either role)."""
        if not user.is_authenticated:
            return False
        if self.owner_id == user.pk:
            return True
        return Agent.objects.filter(pk=self.pk).filter(Agent.objects.all()._usable_q(user)).exists()

    def permits(self, user, need: str) -> bool:
        """What a user who can see the agent may do with it (see AgentQuerySet.get_for)."""
        if need in ("see", "review"):
            return True
        if need == "use":
            return self.is_usable_by(user)
        if need == "edit":
            if self.is_owned_by(user):
                return True
            return (
                user.is_authenticated
                and Agent.objects.editable_by(user).filter(pk=self.pk).exists()
            )
        return self.is_owned_by(user)  # own: the owner alone


class AgentActivity(models.Model):
    """The agent's feed: who did what to it, and when (created, started, errors, sales...)."""

    class Verb(models.TextChoices):
        CREATED = "created"
        UPDATED = "updated"
        STARTED = "started"
        STOPPED = "stopped"
        ERROR = "error"
        LISTED = "listed"
        UNLISTED = "unlisted"
        SOLD = "sold"
        RENTED = "rented"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=20, choices=Verb.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "agent activities"

    def __str__(self) -> str:
        return f"{self.agent} {self.verb}"


class Conversation(models.Model):
    # SET_NULL: a conversation belongs to the user who started it (docs/API.md), so deleting
    # the agent (by its owner, maybe a later buyer) leaves other users' history readable.
    agent = models.ForeignKey(
        Agent, null=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["agent", "user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class RunQuerySet(models.QuerySet):
    def in_flight(self) -> "RunQuerySet":
        return self.filter(status__in=Run.IN_FLIGHT)

    def final(self) -> "RunQuerySet":
        return self.exclude(status__in=Run.IN_FLIGHT)

    def worker_lost(self) -> "RunQuerySet":
        """Runs the reaper failed after their worker's heartbeat stopped (crashed, killed)."""
        return self.filter(status=Run.Status.FAILED, error=Run.WORKER_LOST_ERROR)

    def visible_to(self, user) -> "RunQuerySet":
        """Runs the user started, and only those: a run belongs to whoever started it. The
        agent's owner sees renters' runs only as aggregate stats, and after a sale the new
        owner does not read the seller's runs (docs/API.md, Runs)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user=user)

    def get_for(self, user, pk) -> "Run":
        """The access rule for runs, shared by pages and the API: NotFound unless the user
        may read it (who may cancel it is the service's rule)."""
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise NotFound("Run not found.") from None
        run = self.visible_to(user).filter(pk=pk).first()
        if run is None:
            raise NotFound("Run not found.")
        return run


class Run(models.Model):
    """One chat turn: the user's message, executed by a worker, and its outcome."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"
        TIMED_OUT = "timed_out"

    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)
    # The error of a run the reaper failed because its worker's heartbeat stopped (services.
    # runs_reap); the ops board counts them (`Run.objects.worker_lost()`).
    WORKER_LOST_ERROR = "The worker executing this turn stopped responding (crashed or was killed)."

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="runs")
    # Denormalised from the conversation: stats and the dashboard read it. NULL once the
    # agent is deleted: the run stays its starter's history, under `agent_name`.
    agent = models.ForeignKey(Agent, null=True, on_delete=models.SET_NULL, related_name="runs")
    agent_name = models.CharField(max_length=100, blank=True, help_text="The agent's name then.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs"
    )
    message = models.TextField(max_length=20000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # docs/API.md distinguishes "no output yet / no error" (null) from an empty string.
    output = models.TextField(null=True, blank=True)  # noqa: DJ001
    error = models.TextField(null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Lease: the worker executing the run refreshes heartbeat_at; a stale lease means the
    # worker died, and the reaper fails the run instead of leaving it running forever.
    worker_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The W3C trace context of the request that queued the run, when it was traced
    # (OpenTelemetry, optional): the run's trace continues it, so request → task → run link up.
    traceparent = models.CharField(max_length=55, blank=True)

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"]),
            models.Index(fields=["agent", "-created_at"]),
            # An agent's health (monitoring/health.py) reads only these columns: covering.
            models.Index(
                fields=[
                    "agent",
                    "finished_at",
                    "status",
                    "duration_ms",
                    "input_tokens",
                    "output_tokens",
                ]
            ),
            models.Index(fields=["conversation", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status not in self.IN_FLIGHT

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class RunStep(models.Model):
    """One agent step, stored as soon as the worker completes it."""

    class Kind(models.TextChoices):
        ACTION = "action"
        PLANNING = "planning"
        FINAL_ANSWER = "final_answer"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.ACTION)
    text = models.TextField(blank=True)
    # null = the step had no code / observation / error (docs/API.md: str|null).
    code = models.TextField(null=True, blank=True)  # noqa: DJ001
    observation = models.TextField(null=True, blank=True)  # noqa: DJ001
    error = models.TextField(null=True, blank=True)  # noqa: DJ001
    duration_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # The step as smolagents needs it to rebuild the next turn's memory (JSON only).
    memory = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="unique_step_index")]

    def __str__(self) -> str:
        return f"Run {self.run_id} step {self.index}"


class WorkerQuerySet(models.QuerySet):
    def stale_before(self) -> "datetime":
        return timezone.now() - timedelta(seconds=Worker.stale_after_seconds())

    def live(self) -> "WorkerQuerySet":
        return self.filter(last_seen__gte=self.stale_before())

    def stale(self) -> "WorkerQuerySet":
        return self.filter(last_seen__lt=self.stale_before())


class Worker(models.Model):
    """A `run_worker` process, as it last reported itself (the ops board reads these).

    Its reaper thread refreshes the row every AGENT_REAP_INTERVAL_SECONDS
    (agents/runtime/registry.py) and deletes it on a clean shutdown; a killed worker's row
    goes stale (no sign of life for a few intervals) and is pruned an hour later.
    """

    name = models.CharField(max_length=64, unique=True, help_text="host:pid")
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    capacity = models.PositiveIntegerField(default=0, help_text="Turns it holds at once.")
    in_flight = models.PositiveIntegerField(default=0, help_text="Turns executing now.")
    # How its sandbox children are isolated (agents.runtime.sandbox.isolation_state()).
    isolation = models.JSONField(default=dict, blank=True)
    # Its pool of warm sandbox children: size, ready, warm_hits, cold_starts.
    pool = models.JSONField(default=dict, blank=True)

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def stale_after_seconds() -> float:
        """No heartbeat for three reaper intervals (15 s by default): likely dead, hung or cut
        off; its turns are reaped once their lease (AGENT_RUN_LEASE_SECONDS) expires."""
        return max(1.0, 3 * settings.AGENT_REAP_INTERVAL_SECONDS)

    @property
    def silent_seconds(self) -> float:
        """Seconds since its last heartbeat."""
        return max(0.0, (timezone.now() - self.last_seen).total_seconds())

    @property
    def is_stale(self) -> bool:
        return self.silent_seconds > self.stale_after_seconds()

    @property
    def isolation_mode(self) -> str:
        return str((self.isolation or {}).get("mode") or "unknown")
