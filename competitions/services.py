"""Competitions: the only writers of competitions, tasks, entries and evaluations.

Money (docs/DESIGN.md "Money", docs/API.md "Competitions"): the prize and every entry fee
move from a wallet's available credits into the competitions' escrow account
(marketplace.services.escrow_move), and leave it as payouts, the platform's fee or
refunds, so wallets + platform + escrow = grants. Lock order: the competition's row, then
wallets by ascending user id, then (the podium's XP) agents' stats by ascending agent id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import notify
from agents.models import Agent
from core.errors import Conflict, Forbidden, Invalid, PaymentRequired
from gamification.services import record_competition_result
from marketplace.models import CENT, MAX_PRICE, LedgerEntry
from marketplace.services import escrow_fee, escrow_move, fee_for, money

from . import signals
from .graders import GRADERS
from .models import Competition, Entry, Task

MAX_TASKS = 50
MAX_PROMPT = 5000
SHARES = (Decimal(50), Decimal(30), Decimal(20))
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class TaskSpec:
    prompt: str
    expected: str
    grader: str


def _amount(value, what: str) -> Decimal:
    amount = money(value)
    if amount < 0 or amount > MAX_PRICE:
        raise Invalid(f"The {what} must be between 0 and {MAX_PRICE:,}.")
    return amount


def _check_tasks(tasks: list[TaskSpec]) -> None:
    if not 1 <= len(tasks) <= MAX_TASKS:
        raise Invalid(f"A competition has 1 to {MAX_TASKS} tasks.")
    for number, task in enumerate(tasks, start=1):
        # Messages name the task's number, never its text: tasks stay hidden.
        if not 1 <= len(task.prompt.strip()) <= MAX_PROMPT:
            raise Invalid(f"Task {number}: the prompt has 1 to {MAX_PROMPT} characters.")
        if task.grader not in GRADERS:
            raise Invalid(f"Task {number}: the grader is exact, contains or number.")


@transaction.atomic
def competition_create(
    *,
    organizer: User,
    title: str,
    description: str = "",
    entry_fee,
    prize,
    closes_at: datetime,
    tasks: list[TaskSpec],
) -> Competition:
    """Open a competition; its prize is taken now from the organizer's available credits
    into the escrow (PaymentRequired when short)."""
    title = title.strip()
    if not 1 <= len(title) <= 100:
        raise Invalid("The title has 1 to 100 characters.")
    if len(description) > 2000:
        raise Invalid("The description has at most 2000 characters.")
    fee, prize = _amount(entry_fee, "entry fee"), _amount(prize, "prize")
    if timezone.is_naive(closes_at):
        raise Invalid("closes_at needs a time zone.")
    soonest = timezone.now() + timedelta(seconds=settings.COMPETITION_MIN_SECONDS)
    if closes_at < soonest:
        raise Invalid(
            f"A competition closes at least {settings.COMPETITION_MIN_SECONDS} s from now."
        )
    _check_tasks(tasks)
    competition = Competition.objects.create(
        organizer=organizer,
        title=title,
        description=description,
        entry_fee=fee,
        prize=prize,
        closes_at=closes_at,
    )
    Task.objects.bulk_create(
        Task(competition=competition, position=n, prompt=t.prompt, expected=t.expected,
             grader=t.grader)
        for n, t in enumerate(tasks, start=1)
    )  # fmt: skip
    if prize > 0:
        note = f"Prize of competition #{competition.pk}"
        kind = LedgerEntry.Kind.COMPETITION_PRIZE
        if not escrow_move(user_id=organizer.pk, amount=prize, kind=kind, note=note):
            raise PaymentRequired(f"The prize needs {prize} available credits.")
    return competition


@transaction.atomic
def competition_enter(*, competition: Competition, agent: Agent, by: User) -> Entry:
    """Enter the caller's running agent while the competition is open, paying the fee
    into the escrow. The caller's access to the agent was checked (need="own")."""
    competition = Competition.objects.select_for_update().get(pk=competition.pk)
    if not competition.is_open:
        raise Conflict("This competition is closed to new entries.")
    if competition.organizer_id == by.pk:
        raise Conflict("The organizer cannot enter their own competition.")
    agent = Agent.objects.get(pk=agent.pk)
    if agent.owner_id != by.pk:
        raise Forbidden("Only the agent's owner can enter it.")
    if agent.state != Agent.State.RUNNING:
        raise Conflict(f"Agent “{agent.name}” is {agent.state}, not running. Start it first.")
    if Entry.objects.filter(competition=competition, agent=agent).exists():
        raise Conflict(f"“{agent.name}” has already entered this competition.")
    try:
        with transaction.atomic():
            entry = Entry.objects.create(
                competition=competition,
                agent=agent,
                agent_name=agent.name,
                owner=by,
                fee=competition.entry_fee,
            )
    except IntegrityError:
        raise Conflict(f"“{agent.name}” has already entered this competition.") from None
    if entry.fee > 0:
        note = f"Entry fee of competition #{competition.pk}"
        kind = LedgerEntry.Kind.COMPETITION_ENTRY
        if not escrow_move(user_id=by.pk, amount=entry.fee, kind=kind, note=note):
            raise PaymentRequired(f"The entry fee needs {entry.fee} available credits.")
    return entry


def _refund_all(competition: Competition, why: str, *, actor: User | None = None) -> None:
    """Every fee and the prize back to their payers, wallets by ascending user id, and a
    notice to each of them but the one who cancelled (`actor`)."""
    owed: dict[int, Decimal] = {}
    for entry in competition.entries.all():
        owed[entry.owner_id] = owed.get(entry.owner_id, ZERO) + entry.fee
    owed[competition.organizer_id] = owed.get(competition.organizer_id, ZERO) + competition.prize
    note = f"Refund: competition #{competition.pk} {why}"
    for user_id in sorted(owed):
        if owed[user_id] > 0:
            escrow_move(
                user_id=user_id, amount=-owed[user_id], kind=LedgerEntry.Kind.REFUND, note=note
            )
    told = [user_id for user_id in sorted(owed) if actor is None or user_id != actor.pk]
    for user in User.objects.filter(pk__in=told).order_by("pk"):
        notify(
            user=user,
            text=f"“{competition.title}” was cancelled: {competition.status_reason} "
            f"{owed[user.pk]} credits refunded to you.",
            url=_page(competition),
        )


def _page(competition: Competition) -> str:
    return reverse("competitions:competition_detail", args=[competition.pk])


@transaction.atomic
def competition_cancel(*, competition: Competition, by: User, staff: bool = False) -> Competition:
    """Cancel an open competition (its organizer; staff through the admin) and refund
    everything."""
    if competition.organizer_id != by.pk and not (staff and by.is_staff):
        raise Forbidden("Only the organizer can cancel this competition.")
    competition = Competition.objects.select_for_update().get(pk=competition.pk)
    allowed = [Competition.Status.OPEN] + ([Competition.Status.JUDGING] if staff else [])
    by_organizer = competition.organizer_id == by.pk
    reason = "Cancelled by its organizer." if by_organizer else "Cancelled by the site's staff."
    updated = Competition.objects.filter(pk=competition.pk, status__in=allowed).update(
        status=Competition.Status.CANCELLED, finished_at=timezone.now(), status_reason=reason
    )
    if not updated:
        raise Conflict(f"This competition is {competition.status}; it can no longer be cancelled.")
    competition.refresh_from_db()
    _refund_all(competition, "cancelled", actor=by)
    return competition


def payouts_for(pool: Decimal, places: int) -> tuple[Decimal, list[Decimal]]:
    """(platform fee, payouts by rank) of a pool split 50/30/20 over `places` (≤ 3) ranks,
    renormalised, rounded down to the cent, the leftover cents to rank 1."""
    fee = fee_for(pool)
    rest = pool - fee
    shares = SHARES[: min(places, 3)]
    total = sum(shares)
    paid = [(rest * share / total).quantize(CENT, rounding=ROUND_DOWN) for share in shares]
    if paid:
        paid[0] += rest - sum(paid)
    return fee, paid


@transaction.atomic
def competition_settle(*, competition_id: int) -> bool:
    """Rank the graded entries, pay out and count ranks 1–3 in their agents' stats (XP,
    wins: gamification.services.record_competition_result), once: the conditional
    judging → finished (or cancelled when nobody places) is the first write; False when
    another worker did it."""
    from django.db.models import Count, Q, Sum

    from .models import Evaluation

    competition = Competition.objects.select_for_update().get(pk=competition_id)
    if competition.status != Competition.Status.JUDGING:
        return False
    entries = list(
        competition.entries.annotate(
            passed=Count("evaluations", filter=Q(evaluations__status=Evaluation.Status.PASSED)),
            total_ms=Sum("evaluations__duration_ms"),
        )
    )
    placed = sorted(
        (e for e in entries if e.passed > 0), key=lambda e: (-e.passed, e.total_ms or 0, e.pk)
    )
    now = timezone.now()
    status = Competition.Status.FINISHED if placed else Competition.Status.CANCELLED
    reason = "" if placed else "No entry solved a task."
    updated = Competition.objects.filter(pk=competition.pk, status=Competition.Status.JUDGING)
    if not updated.update(status=status, finished_at=now, status_reason=reason):
        return False
    competition.status, competition.status_reason = status, reason
    for entry in entries:
        entry.score, entry.duration_ms = entry.passed, entry.total_ms or 0
    if not placed:
        Entry.objects.bulk_update(entries, ["score", "duration_ms"])
        _refund_all(competition, "had no entry that solved a task")
        return True
    pool = competition.prize + sum((e.fee for e in entries), ZERO)
    fee, payouts = payouts_for(pool, len(placed))
    for rank, entry in enumerate(placed, start=1):
        entry.rank = rank
        entry.payout = payouts[rank - 1] if rank <= len(payouts) else ZERO
    Entry.objects.bulk_update(entries, ["score", "duration_ms", "rank", "payout"])
    if fee > 0:
        escrow_fee(amount=fee, note=f"Fee of competition #{competition.pk}")
    owed: dict[int, Decimal] = {}
    for entry in placed:
        if entry.payout:
            owed[entry.owner_id] = owed.get(entry.owner_id, ZERO) + entry.payout
    note = f"Payout of competition #{competition.pk}"
    for user_id in sorted(owed):
        escrow_move(
            user_id=user_id, amount=-owed[user_id], kind=LedgerEntry.Kind.COMPETITION_PAYOUT,
            note=note,
        )  # fmt: skip
    # The podium's XP, wins and `champion` (gamification), inside this once-only
    # transaction; a deleted agent has no stats to count them in.
    podium = sorted((e.agent_id, e.rank) for e in placed[:3] if e.agent_id is not None)
    for agent_id, rank in podium:
        record_competition_result(agent_id=agent_id, rank=rank, competition_id=competition.pk)
    _notify_results(competition, entries, tasks=competition.tasks.count())
    signals.competition_won.send(sender=Competition, competition=competition, entry=placed[0])
    return True


def _notify_results(competition: Competition, entries: list[Entry], *, tasks: int) -> None:
    """A notice to each entrant (their agent's score, rank and payout) and the organizer."""
    url = _page(competition)
    owners = User.objects.in_bulk({e.owner_id for e in entries} | {competition.organizer_id})
    for entry in sorted(entries, key=lambda e: e.pk):
        placed = f"placed #{entry.rank}" if entry.rank else "did not place"
        paid = f", {entry.payout} credits paid to you" if entry.payout else ""
        notify(
            user=owners.get(entry.owner_id),
            text=f"“{competition.title}” finished: {entry.agent_name} solved {entry.score} of "
            f"{tasks} tasks and {placed}{paid}.",
            url=url,
        )
    winner = next(e for e in entries if e.rank == 1)
    notify(
        user=owners.get(competition.organizer_id),
        text=f"“{competition.title}” finished: {len(entries)} entries, won by {winner.agent_name}.",
        url=url,
    )
