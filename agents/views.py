from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from accounts.http import AuthedHttpRequest
from core.errors import DomainError
from core.htmx import HtmxHttpRequest
from core.http import redirect_next
from core.pagecache import Parts, cached_page, related_table, row_version, rows_version
from tools_registry.models import Tool
from tools_registry.services import allowed_modules

from . import panels, services
from .forms import AgentForm, ChatForm
from .models import Agent, Conversation, Run, usable_page_sql
from .runtime.providers import configured_providers

PAGE_SIZE = 25


def get_agent(request: HtmxHttpRequest, pk: int, *, need: str = "see") -> Agent:
    """The agent through its access rule (Agent.objects.get_for): 404 when the user may
    not see it, 403 when they may see it but not do what `need` says."""
    return Agent.objects.select_related("owner", "stats").get_for(request.user, pk, need=need)


def get_run(request: AuthedHttpRequest, pk: int) -> Run:
    return Run.objects.select_related("agent", "conversation", "user").get_for(request.user, pk)


def _dashboard_agents(user):
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    # Counted as the agent's stats count runs (gamification.services.record_run): finished
    # turns, cancelled ones excluded; "today" is the local day, as on the runs-per-day chart.
    # Subqueries, not joins and GROUP BY over every agent of the user: under the page's
    # LIMIT, PostgreSQL evaluates them for the page's rows only, and the page count leaves
    # them out (issue 13).
    counted_today = (
        Run.objects.filter(agent=OuterRef("pk"), finished_at__gte=today)
        .exclude(status=Run.Status.CANCELLED)
        .order_by()
        .values("agent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    # The stats a row shows, through a join on the one-to-one (the stats row belongs to
    # gamification, above agents: reached through the relation, never imported). Walking the
    # (owner, updated_at) index under the LIMIT, PostgreSQL joins the page's rows only.
    return (
        Agent.objects.usable_by(user)
        .annotate(
            runs_today=Coalesce(Subquery(counted_today), 0),
            **{f"stats_{name}": F(f"stats__{name}") for name in STATS_SHOWN},
        )
        .order_by("-updated_at", "-id")
    )


STATS_SHOWN = ("successful_requests", "total_requests", "level")


def _rental_expiries(agents: Any, user) -> None:
    """Set `rental_expires_at` on the page's rows: the end of the user's unexpired rental
    of the agents they do not own; one query, and none on a page of their own agents."""
    others = [agent.pk for agent in agents if agent.owner_id != user.pk]
    expiries = (
        dict(
            Agent.objects.filter(pk__in=others)
            .with_rental_expiry(user)
            .values_list("pk", "rental_expires_at")
        )
        if others
        else {}
    )
    for agent in agents:
        agent.rental_expires_at = expiries.get(agent.pk)


def _in_flight(user):
    return (
        Run.objects.in_flight()
        .filter(user=user)
        .select_related("agent")
        .order_by("created_at")[:20]
    )


def _prepare_row(agent: Any, user) -> None:
    """Set what a dashboard row needs besides the agent: `action`, its owner's start/stop
    button, and `row_key`, everything the row shows, which its cached HTML is keyed on."""
    if agent.owner_id != user.pk:
        agent.action = None
    else:
        agent.action = "stop" if agent.state == Agent.State.RUNNING else "start"
    agent.row_key = (
        agent.pk,
        agent.name,
        agent.action,
        agent.owner_id == user.pk,
        agent.rental_expires_at,
        agent.state,
        agent.state_reason,
        agent.model,
        agent.tools,
        agent.runs_today,
        agent.stats_successful_requests,
        agent.stats_total_requests,
        agent.stats_level,
    )


def _dashboard_parts(request: AuthedHttpRequest) -> Parts | None:
    """What the dashboard's first page shows, for the page cache: how many agents the user
    may use (the pagination), the first page's rows with their stats rows (every counted run
    moves those: "runs today"), the user's unexpired rentals (the rows' expiries), their runs
    in flight with their agents, then the panels' parts. Other pages render as usual."""
    panel_parts = panels.fingerprint_parts("dashboard")
    if panel_parts is None or request.GET.get("page", "1") != "1":
        return None
    agents, runs = Agent._meta.db_table, Run._meta.db_table
    rentals = related_table(Agent, "rentals")
    in_flight = ", ".join(f"'{status}'" for status in Run.IN_FLIGHT)
    parts = [
        *usable_page_sql(limit=PAGE_SIZE),
        rows_version(
            f"SELECT {row_version('r')} AS v FROM {rentals} r WHERE r.renter_id = %(viewer)s"
            " AND r.expires_at > %(now)s"
        ),
        rows_version(
            f"SELECT {row_version('r', 'a')} AS v FROM {runs} r"
            f" JOIN {agents} a ON a.id = r.agent_id WHERE r.user_id = %(viewer)s"
            f" AND r.status IN ({in_flight}) ORDER BY r.created_at LIMIT 20"
        ),
    ]
    return [*parts, *panel_parts], {}


@require_GET
@cached_page(_dashboard_parts)
@login_required
def dashboard(request: AuthedHttpRequest) -> HttpResponse:
    template = "agents/dashboard.html"
    if request.htmx and request.htmx.target == "runs-in-flight":
        return render(
            request, template + "#runs-in-flight", {"in_flight": _in_flight(request.user)}
        )
    page = Paginator(_dashboard_agents(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    _rental_expiries(page.object_list, request.user)
    for agent in page.object_list:
        _prepare_row(agent, request.user)
    return render(
        request,
        template,
        {
            "page": page,
            # The table's cache key: every row's.
            "page_key": [agent.row_key for agent in page.object_list],
            "in_flight": _in_flight(request.user),
            "now": timezone.now(),
            # The other apps' panels (the feed of followed users), rendered by those apps.
            "panels": panels.render("dashboard", request, request.user),
        },
    )


def _editor_context(form: AgentForm) -> dict:
    tools = list(Tool.objects.for_listing())
    selectable = {t.pk for t in Tool.objects.selectable()}
    picked = form["tools"].value() or []
    items = [{"tool": t, "ok": t.pk in selectable, "checked": t.name in picked} for t in tools]
    return {
        "form": form,
        # A picked tool stays in the main table even when it became unusable, so it can be
        # unpicked; the rest of the unusable ones are folded away under a note.
        "picker": [item for item in items if item["ok"] or item["checked"]],
        "unavailable": [item for item in items if not item["ok"] and not item["checked"]],
        "providers": configured_providers(),
        "warnings": form.warnings(),
    }


def _flash_warnings(request: AuthedHttpRequest, form: AgentForm) -> None:
    for messages_ in form.warnings().values():
        for message in messages_:
            messages.warning(request, message)


def _agent_form(data=None, initial=None) -> AgentForm:
    names = list(Tool.objects.values_list("name", flat=True))
    return AgentForm(data, initial=initial, tool_names=names, modules=allowed_modules())


@require_http_methods(["GET", "POST"])
@login_required
def agent_create(request: AuthedHttpRequest) -> HttpResponse:
    form = _agent_form(request.POST or None, initial={"metadata": "{}"})
    if request.method == "POST" and form.is_valid():
        try:
            agent = services.agent_create(
                owner=request.user,
                config=form.config(),
                visibility=form.cleaned_data["visibility"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            _flash_warnings(request, form)
            # "Create and start" is the form's first (default) button; "Create only" is not.
            if request.POST.get("then") != "start":
                messages.success(request, f"Agent “{agent.name}” created. Start it to chat.")
                return redirect("agents:agent_detail", pk=agent.pk)
            try:
                services.agent_start(agent=agent, by=request.user)
            except DomainError as exc:
                messages.error(request, f"Agent “{agent.name}” created, not started: {exc.message}")
            else:
                messages.success(request, f"Agent “{agent.name}” created and running.")
            return redirect("agents:agent_detail", pk=agent.pk)
    status = 422 if form.errors else 200
    context = {**_editor_context(form), "agent": None}
    return render(request, "agents/agent_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def agent_edit(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = get_agent(request, pk, need="edit")
    form = _agent_form(request.POST or None, initial=AgentForm.initial_for(agent))
    if not agent.is_owned_by(request.user):
        form.fields["visibility"].disabled = True  # an editor's form keeps the owner's choice
    if request.method == "POST" and form.is_valid():
        try:
            services.agent_update(
                agent=agent,
                by=request.user,
                config=form.config(),
                visibility=form.cleaned_data["visibility"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            _flash_warnings(request, form)
            messages.success(
                request, "Saved. A running agent uses the new configuration from its next turn."
            )
            return redirect("agents:agent_detail", pk=agent.pk)
    status = 422 if form.errors else 200
    context = {**_editor_context(form), "agent": agent}
    return render(request, "agents/agent_form.html", context, status=status)


def _agent_page_parts(request: HtmxHttpRequest, pk: int) -> Parts | None:
    """What the agent page shows, for the page cache: the agent and its owner, its forks
    count, the viewer's last runs, the owner's activity log and what the access rule reads
    (an active listing, the viewer's unexpired rental, their collaborator row), then each
    panel's own parts. None (render as usual) if a panel gave none."""
    panel_parts = panels.fingerprint_parts("agent_detail")
    if panel_parts is None:
        return None
    agents, runs = Agent._meta.db_table, Run._meta.db_table
    users = related_table(Agent, "owner")
    activities = related_table(Agent, "activities")
    listings = related_table(Agent, "listings")
    rentals = related_table(Agent, "rentals")
    collaborators = related_table(Agent, "collaborators")
    parts = [
        f"SELECT {row_version('a', 'o')} FROM {agents} a"
        f" JOIN {users} o ON o.id = a.owner_id WHERE a.id = %(agent)s",
        f"SELECT count(*) FROM {agents} f WHERE f.forked_from_id = %(agent)s",
        rows_version(
            f"SELECT {row_version('r')} AS v FROM {runs} r WHERE r.agent_id = %(agent)s"
            " AND r.user_id = %(viewer)s ORDER BY r.created_at DESC, r.id DESC LIMIT 10"
        ),
        rows_version(
            f"SELECT {row_version('e')} AS v FROM {activities} e WHERE e.agent_id = %(agent)s"
            " ORDER BY e.created_at DESC, e.id DESC LIMIT 20"
        ),
        f"SELECT count(*) FROM {listings} l WHERE l.agent_id = %(agent)s AND l.status = 'active'",
        f"SELECT count(*) FROM {rentals} r WHERE r.agent_id = %(agent)s"
        " AND r.renter_id = %(viewer)s AND r.expires_at > %(now)s",
        rows_version(
            f"SELECT {row_version('c')} AS v FROM {collaborators} c WHERE c.agent_id = %(agent)s"
            " AND c.user_id = %(viewer)s"
        ),
    ]
    return [*parts, *panel_parts], {"agent": pk}


@require_GET
@cached_page(_agent_page_parts)
def agent_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    # Open to visitors: a listed agent is public, read-only (any other id sends them to log
    # in: core.middleware). Its forks counted in the same query (the social panel's).
    agent = (
        Agent.objects.select_related("owner", "stats")
        .with_forks_count()
        .get_for(request.user, pk, need="see")
    )
    is_owner = agent.is_owned_by(request.user)
    # Editors (collaborators) edit, start and stop too; the owner alone deletes.
    can_edit = is_owner or (request.user.is_authenticated and agent.permits(request.user, "edit"))
    # Only the viewer's own runs: others' (renters') count in the stats, never shown.
    runs = Run.objects.visible_to(request.user).filter(agent=agent).select_related("user")
    return render(
        request,
        "agents/agent_detail.html",
        {
            "agent": agent,
            "is_owner": is_owner,
            "can_edit": can_edit,
            "can_use": agent.is_usable_by(request.user),
            "activities": agent.activities.select_related("actor")[:20] if is_owner else [],
            "runs": runs[:10],
            # The other apps' panels (stats, listing), rendered by those apps.
            "panels": panels.render("agent_detail", request, agent),
        },
    )


def _after_state_change(request: AuthedHttpRequest, agent: Agent) -> HttpResponse:
    """htmx from the dashboard swaps the agent's row; otherwise back to where we came from."""
    if request.htmx:
        row: Any = _dashboard_agents(request.user).get(pk=agent.pk)
        _rental_expiries([row], request.user)
        _prepare_row(row, request.user)
        response = render(request, "agents/dashboard.html#agent-row", {"agent": row})
        return trigger_client_event(response, "agent-changed")
    return redirect_next(request, reverse("agents:agent_detail", args=[agent.pk]))


@require_POST
@login_required
def agent_start(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = get_agent(request, pk, need="edit")
    try:
        agent = services.agent_start(agent=agent, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        agent.refresh_from_db()
    else:
        messages.success(request, f"“{agent.name}” is running.")
    return _after_state_change(request, agent)


@require_POST
@login_required
def agent_stop(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = services.agent_stop(agent=get_agent(request, pk, need="edit"), by=request.user)
    messages.success(request, f"“{agent.name}” is stopped.")
    return _after_state_change(request, agent)


@require_http_methods(["GET", "POST"])
@login_required
def agent_delete(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = get_agent(request, pk, need="own")
    if request.method == "POST":
        try:
            services.agent_delete(agent=agent, by=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("agents:agent_delete", pk=agent.pk)
        messages.success(request, f"Agent “{agent.name}” deleted.")
        return redirect("agents:dashboard")
    return render(
        request,
        "agents/agent_confirm_delete.html",
        {
            "agent": agent,
            "blockers": services.agent_delete_blockers(agent=agent, by=request.user),
            "in_flight": agent.runs.in_flight().count(),
            "run_count": agent.runs.filter(user=request.user).count(),
            "others_run_count": agent.runs.exclude(user=request.user).count(),
        },
    )


# --- chat ------------------------------------------------------------------------------


def _conversation_runs(conversation: Conversation | None):
    if conversation is None:
        return []
    return conversation.runs.order_by("created_at").prefetch_related("steps")


@require_http_methods(["GET", "POST"])
@login_required
def chat(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    agent = get_agent(request, pk, need="use")
    conversations = agent.conversations.filter(user=request.user).annotate(run_count=Count("runs"))
    conversation: Conversation | None = None
    selected = request.POST.get("conversation") or request.GET.get("c")
    if selected and str(selected).isdigit():
        conversation = get_object_or_404(conversations, pk=int(selected))
    form = ChatForm(
        request.POST or None, initial={"conversation": conversation and conversation.pk}
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                run = services.run_start(
                    agent=agent,
                    user=request.user,
                    message=form.cleaned_data["message"],
                    conversation_id=conversation.pk if conversation else None,
                )
            except DomainError as exc:
                form.add_error("message", exc.message)
                status = exc.status
            else:
                url = reverse("agents:chat", args=[agent.pk]) + f"?c={run.conversation_id}"
                if request.htmx:
                    conversation = run.conversation
                    form = ChatForm(initial={"conversation": conversation.pk})
                    response = render(
                        request,
                        "agents/chat.html#chat-main",
                        _chat_context(request, agent, conversation, conversations, form),
                    )
                    response["HX-Push-Url"] = url
                    return response
                return redirect(url)
        else:
            status = 422
    template = "agents/chat.html"
    if request.htmx and status == 200:
        template += "#chat-main"
    context = _chat_context(request, agent, conversation, conversations, form)
    return render(request, template, context, status=status)


def _chat_context(request: AuthedHttpRequest, agent, conversation, conversations, form) -> dict:
    runs = list(_conversation_runs(conversation))
    # What the other apps add under a finished run (XP, unlocks) stays after a reload.
    rendered = panels.render_many("run_final", request, [run for run in runs if run.is_final])
    for run in runs:
        run.panels = rendered.get(run.pk, [])
    return {
        "agent": agent,
        "conversation": conversation,
        "conversations": conversations,
        "runs": runs,
        "busy": any(not run.is_final for run in runs),
        "form": form,
    }


@require_GET
@login_required
def run_list(request: AuthedHttpRequest) -> HttpResponse:
    """Every run the user started, newest first, including runs of agents deleted since
    (shown under the name the agent had)."""
    runs = (
        Run.objects.visible_to(request.user).select_related("agent").order_by("-created_at", "-id")
    )
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    template = "agents/run_list.html"
    if request.htmx:
        template += "#run-results"
    return render(request, template, {"page": page})


@require_GET
@login_required
def run_detail(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    return _render_run(request, get_run(request, pk))


def _render_run(request: AuthedHttpRequest, run: Run) -> HttpResponse:
    """The run page, or for htmx the run card alone (polled until the run is final)."""
    context = {
        "run": run,
        "steps": run.steps.all(),
        # What the other apps add under a finished run (XP and unlocks from gamification).
        "run_panels": panels.render("run_final", request, run) if run.is_final else [],
        "open_steps": True,
    }
    if request.htmx:
        response = render(request, "agents/run_detail.html#run-card", context)
        if run.is_final:
            trigger_client_event(response, "run-finished", {"run": run.pk})
        return response
    return render(request, "agents/run_detail.html", context)


@require_POST
@login_required
def run_cancel(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    run = get_run(request, pk)
    try:
        run = services.run_cancel(run=run, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    if request.htmx:
        return _render_run(request, run)
    return redirect_next(request, reverse("agents:run_detail", args=[run.pk]))
