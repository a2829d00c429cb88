"""The competition pages (docs/API.md "Competitions", "Pages"): the list, organizing one,
a competition's page with its live judging progress and final table, entering an agent,
cancelling, and the organizer's tasks page. The rules are competitions.services'; every page
reads a competition through Competition.objects.get_for, and never shows a task's prompt or
expected answer to anyone but its organizer."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRefresh

from accounts.http import AuthedHttpRequest
from agents.models import Agent
from core.errors import Conflict, Forbidden, Invalid, PaymentRequired
from core.http import redirect_next, safe_next_url
from marketplace.services import wallet_for

from . import services
from .forms import CompetitionForm, EntryForm, TaskFormSet
from .models import Competition, Entry, Evaluation

PAGE_SIZE = 25
TABS = [
    (Competition.Status.OPEN.value, "Open"),
    (Competition.Status.JUDGING.value, "Judging"),
    (Competition.Status.FINISHED.value, "Finished"),
    (Competition.Status.CANCELLED.value, "Cancelled"),
]
# A page left open polls its live part: every 2 s while judging (or about to close), and
# every 30 s while closing is further off (new entries, a cancellation).
POLL_FAST, POLL_SLOW = 2, 30
CLOSING_SOON = timedelta(minutes=2)
TASK_FORMS_PREFIX = "tasks"


def get_competition(request: AuthedHttpRequest, pk: int, *, need: str = "see") -> Competition:
    """The competition through its access rule: 404 for an unknown id, 403 when `need` is
    "organize" and the user is not the organizer."""
    return (
        Competition.objects.select_related("organizer")
        .with_totals()
        .get_for(request.user, pk, need=need)
    )


# --- the list -------------------------------------------------------------------------------


def _list_rows(status: str):
    """One tab's competitions with their totals (Competition.objects.with_totals): a page
    costs the same two queries (count, page) however many rows it shows."""
    rows = Competition.objects.filter(status=status).select_related("organizer").with_totals()
    if status in (Competition.Status.OPEN, Competition.Status.JUDGING):
        return rows.order_by("closes_at", "id")
    return rows.order_by("-finished_at", "-id")


@require_GET
@login_required
def competition_list(request: AuthedHttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in dict(TABS):
        status = Competition.Status.OPEN.value
    page = Paginator(_list_rows(status), PAGE_SIZE).get_page(request.GET.get("page"))
    template = "competitions/competition_list.html"
    if request.htmx:
        template += "#competition-results"
    return render(
        request,
        template,
        {"tabs": TABS, "status": status, "page": page, "query": f"status={status}"},
    )


# --- organizing -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def competition_create(request: AuthedHttpRequest) -> HttpResponse:
    status, short_credits = 200, False
    if request.method == "POST":
        form = CompetitionForm(request.POST)
        tasks = TaskFormSet(request.POST, prefix=TASK_FORMS_PREFIX)
        status = 422
        if form.is_valid() and tasks.is_valid():
            data = form.cleaned_data
            specs = [
                services.TaskSpec(
                    task.cleaned_data["prompt"],
                    task.cleaned_data["expected"],
                    task.cleaned_data["grader"],
                )
                for task in tasks.filled_forms()
            ]
            try:
                competition = services.competition_create(
                    organizer=request.user,
                    title=data["title"],
                    description=data["description"],
                    entry_fee=data["entry_fee"],
                    prize=data["prize"],
                    closes_at=data["closes_at"],
                    tasks=specs,
                )
            except (Invalid, PaymentRequired, Conflict) as exc:
                form.add_error(None, exc.message)
                status, short_credits = exc.status, isinstance(exc, PaymentRequired)
            else:
                messages.success(
                    request,
                    f"Your competition “{competition.title}” is open until "
                    f"{competition.closes_at:%Y-%m-%d %H:%M:%S} UTC.",
                )
                return redirect("competitions:competition_detail", pk=competition.pk)
    else:
        closes = timezone.now() + timedelta(days=1)
        form = CompetitionForm(initial={"closes_at": closes.replace(second=0, microsecond=0)})
        tasks = TaskFormSet(prefix=TASK_FORMS_PREFIX)
    context = {
        "form": form,
        "tasks": tasks,
        "available": wallet_for(user=request.user).available,
        "short_credits": short_credits,
        "min_minutes": max(1, settings.COMPETITION_MIN_SECONDS // 60),
        "min_seconds": settings.COMPETITION_MIN_SECONDS,
        "max_tasks": services.MAX_TASKS,
        "fee_percent": settings.MARKETPLACE_FEE_PERCENT,
    }
    return render(request, "competitions/competition_form.html", context, status=status)


# --- a competition's page -------------------------------------------------------------------


def _poll_seconds(competition: Competition) -> int | None:
    if competition.status == Competition.Status.JUDGING:
        return POLL_FAST
    if competition.status == Competition.Status.OPEN:
        soon = competition.closes_at - timezone.now() <= CLOSING_SOON
        return POLL_FAST if soon else POLL_SLOW
    return None  # finished or cancelled: nothing changes any more


@dataclass
class EntryRow:
    """An entry as a competition's page shows it; `task_results` (task numbers and states,
    never a task's text) for the viewer's own entries only."""

    entry: Entry
    mine: bool
    task_results: list[dict] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.entry.duration_ms / 1000


def _judging_progress(competition: Competition) -> dict:
    graded_states = [Evaluation.Status.PASSED, Evaluation.Status.FAILED]
    counts = competition.evaluations.aggregate(
        total=Count("pk"), graded=Count("pk", filter=Q(status__in=graded_states))
    )
    total, graded = counts["total"], counts["graded"]
    return {"total": total, "graded": graded, "percent": (100 * graded // total) if total else 0}


ENTRY_PAGE_SIZE = 50


def _detail_context(request: AuthedHttpRequest, competition: Competition) -> dict:
    user = request.user
    # The entries a page at a time, in the final order: the placed by rank, then the rest
    # as they entered.
    entries = competition.entries.select_related("owner").order_by(
        F("rank").asc(nulls_last=True), "pk"
    )
    page = Paginator(entries, ENTRY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [EntryRow(entry=e, mine=e.owner_id == user.pk) for e in page.object_list]
    is_organizer = competition.organizer_id == user.pk
    context: dict[str, object] = {
        "competition": competition,
        "rows": rows,
        "page": page,
        "entries_count": page.paginator.count,
        "pool": competition.pool,
        "tasks_count": competition.tasks.count(),
        "is_organizer": is_organizer,
        "poll_seconds": _poll_seconds(competition),
        "fee_percent": settings.MARKETPLACE_FEE_PERCENT,
    }
    if competition.status == Competition.Status.JUDGING:
        context["progress"] = _judging_progress(competition)
    mine = {
        e.pk: EntryRow(entry=e, mine=True)
        for e in competition.entries.filter(owner=user).order_by("pk")
    }
    if mine and competition.status in (Competition.Status.JUDGING, Competition.Status.FINISHED):
        # The viewer's own entries, task by task: a task's number and its state, never its
        # prompt or expected answer (they stay the organizer's).
        results = (
            Evaluation.objects.filter(competition=competition, entry__owner=user)
            .order_by("entry_id", "task__position")
            .values("entry_id", "status", position=F("task__position"))
        )
        for result in results:
            mine[result["entry_id"]].task_results.append(dict(result))
    context["mine"] = list(mine.values())
    if competition.is_open and not is_organizer:
        entered = competition.entries.filter(agent__isnull=False).values("agent_id")
        context["enterable"] = list(
            Agent.objects.owned_by(user)
            .filter(state=Agent.State.RUNNING)
            .exclude(pk__in=entered)
            .order_by("name", "id")
            .only("id", "name")
        )
    return context


@require_GET
@login_required
def competition_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    competition = get_competition(request, pk)
    template = "competitions/competition_detail.html"
    if request.htmx and request.htmx.target == "competition-live":
        # The live part, polled: a change of status (closing, finishing, a cancellation)
        # changes the whole page (the entry form goes, the final table comes): reload it.
        if request.GET.get("seen") != competition.status:
            return HttpResponseClientRefresh()
        template += "#competition-live"
    return render(request, template, _detail_context(request, competition))


# --- entering -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def competition_enter(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """GET ?agent=N: the confirmation (the fee, the credits it leaves); POST: the entry.
    The service's refusals (closed, not running, already in, short of credits) become
    messages."""
    competition = get_competition(request, pk)
    detail_url = reverse("competitions:competition_detail", args=[competition.pk])
    form = EntryForm(request.POST if request.method == "POST" else request.GET)
    if not form.is_valid():
        messages.error(request, "Pick one of your running agents to enter.")
        return redirect_next(request, detail_url)
    agent = Agent.objects.get_for(request.user, form.cleaned_data["agent"], need="own")
    if request.method == "POST":
        try:
            services.competition_enter(competition=competition, agent=agent, by=request.user)
        except (Conflict, PaymentRequired, Forbidden, Invalid) as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"“{agent.name}” entered “{competition.title}” for "
                f"{competition.entry_fee:.2f} credits. Judging starts at "
                f"{competition.closes_at:%Y-%m-%d %H:%M:%S} UTC: keep it running.",
            )
        return redirect_next(request, detail_url)
    available = wallet_for(user=request.user).available
    context = {
        "competition": competition,
        "agent": agent,
        "available": available,
        "available_after": available - competition.entry_fee,
        "next": safe_next_url(request, detail_url),
        "tasks_count": competition.tasks.count(),
    }
    return render(request, "competitions/competition_enter.html", context)


# --- cancelling -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def competition_cancel(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The organizer's cancellation: GET the confirmation (what is refunded), POST it."""
    competition = get_competition(request, pk, need="organize")
    if request.method == "POST":
        try:
            services.competition_cancel(competition=competition, by=request.user)
        except (Conflict, Forbidden) as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Cancelled “{competition.title}”: the prize and every entry fee were refunded.",
            )
        return redirect("competitions:competition_detail", pk=competition.pk)
    context = {
        "competition": competition,
        "entries_count": competition.entries_total,  # type: ignore[attr-defined]
        "fees_total": competition.pool - competition.prize,
    }
    return render(request, "competitions/competition_cancel.html", context)


# --- the organizer's tasks page -------------------------------------------------------------


@require_GET
@login_required
def competition_tasks(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    """The hidden tasks and every entry's result on each (the organizer alone: 403)."""
    competition = get_competition(request, pk, need="organize")
    template = "competitions/competition_tasks.html"
    if request.htmx and request.htmx.target == "task-matrix":
        if request.GET.get("seen") != competition.status:
            return HttpResponseClientRefresh()
        template += "#task-matrix"
    tasks = list(competition.tasks.all())
    entries = list(competition.entries.select_related("owner"))
    evaluations = {
        (e.entry_id, e.task_id): {"status": e.status, "duration_s": e.duration_ms / 1000}
        for e in Evaluation.objects.filter(competition=competition).only(
            "entry_id", "task_id", "status", "duration_ms"
        )
    }
    # One row per entry, one cell per task (None: not judged yet).
    matrix = [(e, [evaluations.get((e.pk, t.pk)) for t in tasks]) for e in entries]
    passed = [
        sum(1 for _entry, cells in matrix if (c := cells[n]) and c["status"] == "passed")
        for n in range(len(tasks))
    ]
    context = {
        "competition": competition,
        "tasks": tasks,
        "matrix": matrix,
        "passed": passed,
        "entries_count": len(entries),
        "judged": bool(evaluations),
        "poll_seconds": POLL_FAST if competition.status == Competition.Status.JUDGING else None,
    }
    return render(request, template, context)
