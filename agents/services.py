"""Agents: the only writers of agent, conversation and run state."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.text import UNSAFE_NAME_MESSAGE, has_unsafe_name_chars

from . import signals
from .models import Agent, AgentActivity, Conversation, Run, RunStep, Worker
from .validation import AgentConfig, config_errors, config_summary, validate_config

logger = logging.getLogger(__name__)


def activity_log(*, agent: Agent, actor: User | None, verb: str, detail: str = "") -> AgentActivity:
    """Record an event in the agent's feed (created, started... and, from the marketplace,
    listed, sold, rented)."""
    return AgentActivity.objects.create(agent=agent, actor=actor, verb=verb, detail=detail[:2000])


# --- lifecycle -------------------------------------------------------------------------


def _check_visibility(visibility: str) -> str:
    if visibility not in Agent.Visibility.values:
        raise Invalid("Visibility is private or public.")
    return visibility


@transaction.atomic
def agent_create(*, owner: User, config: AgentConfig, visibility: str = "private") -> Agent:
    config = validate_config(config)
    visibility = _check_visibility(visibility)
    agent = Agent.objects.create(
        owner=owner,
        name=config.name,
        description=config.description,
        tools=config.tools,
        model=config.model,
        allowed_imports=config.allowed_imports,
        metadata=config.metadata,
        visibility=visibility,
    )
    activity_log(
        agent=agent, actor=owner, verb=AgentActivity.Verb.CREATED, detail=f"Model {agent.model}"
    )
    signals.agent_created.send(sender=Agent, agent=agent, by=owner)
    if agent.is_public:
        signals.agent_published.send(sender=Agent, agent=agent, by=owner)
    return agent


@transaction.atomic
def agent_fork(*, agent: Agent, by: User, name: str | None = None) -> Agent:
    """A copy of the agent's configuration owned by `by`: state created, private, with its
    lineage (`forked_from` and a snapshot of the parent's name and owner). The caller checked
    that `by` may see the agent; forking needs ownership or a public agent (a collaborator
    or renter of a private agent is refused)."""
    parent = Agent.objects.select_related("owner").get(pk=agent.pk)
    if parent.owner_id != by.pk and not parent.is_public:
        raise Forbidden("Only the owner can fork a private agent.")
    name = (name or "").strip() or f"{parent.name} (fork)"[:100]
    if has_unsafe_name_chars(name):
        raise Invalid(UNSAFE_NAME_MESSAGE)
    fork = Agent.objects.create(
        owner=by,
        name=name[:100],
        description=parent.description,
        tools=list(parent.tools),
        model=parent.model,
        allowed_imports=list(parent.allowed_imports),
        metadata=dict(parent.metadata),
        forked_from=parent,
        forked_from_name=parent.name,
        forked_from_owner=parent.owner.username,
    )
    activity_log(
        agent=fork, actor=by, verb=AgentActivity.Verb.CREATED, detail=f"Forked from {parent.name}"
    )
    signals.agent_created.send(sender=Agent, agent=fork, by=by)
    signals.agent_forked.send(sender=Agent, agent=fork, parent=parent, by=by)
    return fork


@transaction.atomic
def agent_update(
    *, agent: Agent, by: User, config: AgentConfig, visibility: str | None = None
) -> Agent:
    """Save a new configuration (and visibility, when given: the owner's choice alone). A
    running agent keeps running; the next turn uses it."""
    config = validate_config(config)
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    changed = [name for name in config.FIELDS if getattr(agent, name) != getattr(config, name)]
    for name in changed:
        setattr(agent, name, getattr(config, name))
    published = False
    if visibility is not None and _check_visibility(visibility) != agent.visibility:
        if agent.owner_id != by.pk:
            raise Forbidden("Only the agent's owner can change its visibility.")
        agent.visibility = visibility
        changed.append("visibility")
        published = agent.is_public
    if agent.state == Agent.State.ERROR:
        # A fixed configuration leaves the error state; starting re-checks it anyway.
        agent.state, agent.state_reason = Agent.State.STOPPED, ""
    agent.save()
    if changed:
        detail = "Changed " + ", ".join(changed)
        activity_log(agent=agent, actor=by, verb=AgentActivity.Verb.UPDATED, detail=detail)
    if published:
        signals.agent_published.send(sender=Agent, agent=agent, by=by)
    return agent


def agent_start(*, agent: Agent, by: User) -> Agent:
    """Re-validate the configuration, then mark the agent running (idempotent).

    A configuration that no longer validates (a tool removed or made invalid, a module
    taken off the allowlist) puts the agent in `error` with the reason, then raises
    Conflict. The error state is committed before raising.
    """
    errors = config_errors(AgentConfig.from_agent(agent))
    with transaction.atomic():
        agent = Agent.objects.select_for_update().get(pk=agent.pk)
        if errors:
            reason = "Cannot start: " + config_summary(errors)
            if agent.state != Agent.State.ERROR or agent.state_reason != reason:
                agent.state, agent.state_reason = Agent.State.ERROR, reason
                agent.save(update_fields=["state", "state_reason", "updated_at"])
                activity_log(agent=agent, actor=by, verb=AgentActivity.Verb.ERROR, detail=reason)
        elif agent.state != Agent.State.RUNNING:
            agent.state, agent.state_reason = Agent.State.RUNNING, ""
            agent.save(update_fields=["state", "state_reason", "updated_at"])
            activity_log(agent=agent, actor=by, verb=AgentActivity.Verb.STARTED)
    if errors:
        raise Conflict(agent.state_reason)
    return agent


@transaction.atomic
def agent_stop(*, agent: Agent, by: User) -> Agent:
    """Mark the agent stopped (idempotent) and cancel its runs in flight."""
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    cancelled = 0
    for run in Run.objects.in_flight().filter(agent=agent):
        cancelled += run_finish(run=run, status=Run.Status.CANCELLED, error="Agent stopped.")
    if agent.state != Agent.State.STOPPED:
        agent.state, agent.state_reason = Agent.State.STOPPED, ""
        agent.save(update_fields=["state", "state_reason", "updated_at"])
        activity_log(
            agent=agent,
            actor=by,
            verb=AgentActivity.Verb.STOPPED,
            detail=f"{cancelled} run(s) cancelled" if cancelled else "",
        )
    return agent


def agent_delete_blockers(*, agent: Agent, by: User) -> list[str]:
    """Why the agent cannot be deleted now (empty when it can): the apps above answer,
    e.g. the marketplace while other users hold unexpired rentals."""
    reasons: list[str] = []
    for _receiver, answer in signals.agent_delete_check.send(sender=Agent, agent=agent, by=by):
        reasons.extend(answer or [])
    return reasons


@transaction.atomic
def agent_delete(*, agent: Agent, by: User) -> None:
    """Delete the agent: refused while something above blocks it (other users' unexpired
    rentals); what refers to it is let go first (an active listing is withdrawn)."""
    agent = Agent.objects.select_for_update().get(pk=agent.pk)
    blockers = agent_delete_blockers(agent=agent, by=by)
    if blockers:
        raise Conflict(" ".join(blockers))
    signals.agent_deleting.send(sender=Agent, agent=agent, by=by)
    # Turns in flight end now (a worker executing one notices and stops the sandbox).
    for run in Run.objects.in_flight().filter(agent=agent):
        run_finish(run=run, status=Run.Status.CANCELLED, error="The agent was deleted.")
    # The deleting owner's own conversations go with the agent; other users' (renters', an
    # earlier owner's) stay theirs to read, with the agent's name kept on each run.
    Conversation.objects.filter(agent=agent, user=agent.owner).delete()
    agent.delete()


# --- chat turns --------------------------------------------------------------------------


@transaction.atomic
def run_start(*, agent: Agent, user: User, message: str, conversation_id: int | None = None) -> Run:
    """Store the user's message as a queued run and enqueue its execution, in one commit."""
    if not agent.is_usable_by(user):
        raise Forbidden("Only the owner, a renter or a collaborator can chat with this agent.")
    agent = Agent.objects.get(pk=agent.pk)  # the state as of now, not as of the caller's read
    if agent.state != Agent.State.RUNNING:
        hint = " Start it first." if agent.owner_id == user.pk else " Ask its owner to start it."
        raise Conflict(f"Agent “{agent.name}” is {agent.state}, not running.{hint}")
    message = message.strip()
    if conversation_id is None:
        conversation = Conversation.objects.create(agent=agent, user=user, title=message[:120])
    else:
        found = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation_id, agent=agent, user=user)
            .first()
        )
        if found is None:
            raise NotFound("Conversation not found.")
        conversation = found
        if conversation.runs.in_flight().exists():
            raise Conflict("This conversation already has a turn in progress; wait for it.")
        conversation.save(update_fields=["updated_at"])
    run = Run.objects.create(
        conversation=conversation,
        agent=agent,
        agent_name=agent.name,
        user=user,
        message=message,
        traceparent=_traceparent(),
    )
    # The task queue is this database: the task row commits with the run, so no crash (of
    # a web process, or of a worker starting judging runs) can leave a queued run that no
    # worker will ever execute; a rollback takes both away.
    _enqueue_turn(run.pk)
    return run


def _traceparent() -> str:
    """The W3C `traceparent` of the span active now (a request traced by the web's optional
    OpenTelemetry instrumentation), or "": the run's trace continues the request's."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")[:55]


def _enqueue_turn(run_id: int) -> None:
    from .runtime import wakeup
    from .tasks import execute_run

    # The caller's commit for both: PostgreSQL delivers the NOTIFY when the task row commits
    # (and SQLite's wake-up is sent on commit).
    execute_run.enqueue(run_id=run_id)
    wakeup.announce()  # idle workers claim it now instead of at their next poll


def run_cancel(*, run: Run, by: User, staff: bool = False) -> Run:
    # The agent's owner stops other users' turns by stopping the agent, not one by one:
    # they do not see those runs (a run belongs to whoever started it). staff=True (the
    # admin's action, agents/admin.py) lets a staff member cancel anyone's run.
    if run.user_id != by.pk and not (staff and by.is_staff):
        raise Forbidden("Only who started the run can cancel it.")
    with transaction.atomic():
        run_finish(run=run, status=Run.Status.CANCELLED, error=f"Cancelled by {by.username}.")
    run.refresh_from_db()
    return run


def run_claim(*, run_id: int, worker_id: str) -> Run | None:
    """Move a queued run to running for this worker; None if someone else has it, or it
    was cancelled meanwhile. The conditional update makes a duplicated task harmless."""
    now = timezone.now()
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=now, heartbeat_at=now, worker_id=worker_id[:64]
    )
    return Run.objects.select_related("agent", "conversation").get(pk=run_id) if claimed else None


def run_step_record(*, run: Run, **fields: object) -> RunStep:
    return RunStep.objects.create(run=run, **fields)


def run_finish(
    *,
    run: Run,
    status: str,
    output: str | None = None,
    error: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> bool:
    """Finalise a run exactly once and announce it (`run_finished`: stats and XP are
    counted by gamification in the same transaction).

    Returns False when the run was already final (cancelled by its user, timed out by the
    monitor, reaped): the first writer wins and later outcomes are dropped.
    """
    with transaction.atomic():
        now = timezone.now()
        current = Run.objects.select_for_update().filter(pk=run.pk).first()
        if current is None or current.is_final:
            return False
        started = current.started_at or current.created_at
        current.status = status
        current.finished_at = now
        current.duration_ms = max(0, int((now - started).total_seconds() * 1000))
        current.output = output
        current.error = error
        if input_tokens is not None:
            current.input_tokens = input_tokens
        if output_tokens is not None:
            current.output_tokens = output_tokens
        current.save()
        signals.run_finished.send(sender=Run, run=current)
    return True


def runs_heartbeat(*, run_ids: list[int]) -> None:
    Run.objects.filter(pk__in=run_ids, status=Run.Status.RUNNING).update(
        heartbeat_at=timezone.now()
    )


class WorkerLost(Exception):
    """What a reaped task row records: the worker holding it died."""


def runs_reap() -> int:
    """Fail the turns nobody is executing any more, so nothing hangs; returns how many runs.

    A running run whose lease (heartbeat) went stale belongs to a worker that died; so does a
    queued run whose task was claimed a lease ago (the worker died between claiming the task
    and the run); a queued run nobody claimed for a long time lost its task. Their task rows
    are failed with them (`turn_tasks_reap`). Every worker calls this on its own clock
    (`runtime/reaper.py`), any number at once: `run_finish` and the task rows' updates are
    conditional, so each item moves once.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.AGENT_RUN_LEASE_SECONDS)
    dead = Run.WORKER_LOST_ERROR
    stale = Run.objects.filter(status=Run.Status.RUNNING, heartbeat_at__lt=now - lease)
    abandoned = dict.fromkeys(stale.values_list("pk", flat=True), dead)
    # A live worker moves a run to running a moment after claiming its task. The task rows
    # are read only when a run has waited that long: on PostgreSQL that is a scan of the
    # whole task table (no index covers RUNNING rows).
    if Run.objects.filter(status=Run.Status.QUEUED, created_at__lt=now - lease).exists():
        claimed = {run_id for _, run_id, started in _turn_tasks_running() if started < now - lease}
        unstarted = Run.objects.filter(status=Run.Status.QUEUED, pk__in=claimed)
        abandoned.update(dict.fromkeys(unstarted.values_list("pk", flat=True), dead))
    lost = Run.objects.filter(
        status=Run.Status.QUEUED,
        created_at__lt=now - timedelta(seconds=settings.AGENT_QUEUE_TIMEOUT_SECONDS),
    )
    for run_id in lost.values_list("pk", flat=True):
        abandoned.setdefault(
            run_id, "No worker picked this turn up in time. Is the worker running?"
        )
    reaped = {
        run_id
        for run_id, error in abandoned.items()
        if run_finish(run=Run(pk=run_id), status=Run.Status.FAILED, error=error)
    }
    if reaped:
        tasks = turn_tasks_reap(run_ids=reaped)
        logger.warning("Reaped %d abandoned run(s) and %d task row(s)", len(reaped), tasks)
    return len(reaped)


TASK_PRUNE_BATCH = 1000


def tasks_prune(*, now=None) -> int:
    """Delete finished task rows (succeeded or failed) older than TASK_RETENTION_DAYS, at most
    TASK_PRUNE_BATCH per call; returns how many. The queue's table holds a row per turn and
    django-tasks-db never deletes one; runs keep their own history. A periodic job of every
    worker calls this (AgentsConfig.ready); deleting by primary key is safe to repeat."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    cutoff = (now or timezone.now()) - timedelta(days=settings.TASK_RETENTION_DAYS)
    old = DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED],
        finished_at__lt=cutoff,
    ).order_by()
    ids = list(old.values_list("pk", flat=True)[:TASK_PRUNE_BATCH])
    if not ids:
        return 0
    deleted, _ = DBTaskResult.objects.filter(pk__in=ids).delete()
    return deleted


def turn_tasks_reap(*, run_ids: set[int] | None = None) -> int:
    """Fail the RUNNING task rows of turns no live worker holds; returns how many.

    django-tasks-db marks a task done only when its worker finishes it, so a dead worker's
    rows would stay RUNNING forever. With `run_ids`: the rows of those runs, just reaped.
    Without: the rows held longer than a live turn can last (its wall clock, a model call in
    flight when it stopped, a lease), whatever became of their runs since (cancelled,
    deleted, reaped by a tick that died before this); the reaper sweeps for those now and
    then, not every tick, because on PostgreSQL it scans the task table.
    """
    from traceback import format_exception

    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    now = timezone.now()
    lease = settings.AGENT_RUN_LEASE_SECONDS
    if run_ids is not None:
        ids = [pk for pk, run_id, _ in _turn_tasks_running() if run_id in run_ids]
        reason = f"Its worker died: no sign of life for {lease} s (lease expired)."
    else:
        longest = settings.AGENT_RUN_TIMEOUT_SECONDS + settings.AGENT_PROVIDER_TIMEOUT_SECONDS
        longest += lease
        cutoff = now - timedelta(seconds=longest)
        ids = [pk for pk, _, started in _turn_tasks_running() if started < cutoff]
        reason = f"Still running after {longest} s, longer than any turn lasts: its worker died."
    if not ids:
        return 0
    failed = DBTaskResult.objects.filter(pk__in=ids, status=TaskResultStatus.RUNNING).update(
        # The library's own failure fields, as its `set_failed` writes them; conditional, so
        # a row its worker finished meanwhile keeps that outcome.
        status=TaskResultStatus.FAILED,
        finished_at=now,
        return_value=None,
        exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
        traceback="".join(format_exception(WorkerLost(reason))),
    )
    if failed and run_ids is None:
        logger.warning("Failed %d task row(s) dead workers left running", failed)
    return failed


def _turn_tasks_running() -> list[tuple]:
    """(id, run id, started at) of every turn's task row some worker holds, dead or alive."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from .tasks import execute_run

    rows = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING,
        task_path=execute_run.module_path,
        started_at__isnull=False,
    ).values_list("pk", "args_kwargs", "started_at")
    return [(pk, (args.get("kwargs") or {}).get("run_id"), started) for pk, args, started in rows]


# --- worker registry (the ops board) ----------------------------------------------------


def worker_heartbeat(
    *,
    name: str,
    started_at: datetime,
    capacity: int,
    in_flight: int,
    isolation: dict,
    pool: dict,
) -> Worker:
    """Register a worker process or refresh its row (its reaper thread, every tick)."""
    worker, _ = Worker.objects.update_or_create(
        name=name[:64],
        defaults={
            "started_at": started_at,
            "last_seen": timezone.now(),
            "capacity": max(0, capacity),
            "in_flight": max(0, in_flight),
            "isolation": isolation,
            "pool": pool,
        },
    )
    return worker


def worker_deregister(*, name: str) -> None:
    """A worker shutting down cleanly leaves the board."""
    Worker.objects.filter(name=name[:64]).delete()


def workers_prune(*, older_than: timedelta = timedelta(hours=1)) -> int:
    """Forget workers not seen for a long time (killed, their host gone); the board shows
    them as stale until then."""
    deleted, _ = Worker.objects.filter(last_seen__lt=timezone.now() - older_than).delete()
    return deleted


def run_execute(*, run_id: int, worker_id: str = "") -> None:
    """Claim a queued run and execute it (the task worker calls this)."""
    from .runtime.turn import execute_turn

    run = run_claim(run_id=run_id, worker_id=worker_id or _worker_id())
    if run is None:
        return
    execute_turn(run)


def _worker_id() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


@transaction.atomic
def agent_transfer(*, agent: Agent, to_user: User, by: User | None = None) -> Agent:
    """Move ownership (a marketplace sale). Rentals already granted keep running until
    they expire; the previous owner's conversations stay theirs to read."""
    # The previous owner is read in the same statement, without locking their row.
    agent = Agent.objects.select_for_update(of=("self",)).select_related("owner").get(pk=agent.pk)
    previous = agent.owner
    agent.owner = to_user
    agent.save(update_fields=["owner", "updated_at"])
    activity_log(
        agent=agent,
        actor=by or to_user,
        verb=AgentActivity.Verb.SOLD,
        detail=f"Sold by {previous} to {to_user}",
    )
    signals.agent_transferred.send(
        sender=Agent, agent=agent, previous_owner=previous, new_owner=to_user, by=by or to_user
    )
    return agent
