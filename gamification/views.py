from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthedHttpRequest
from agents.models import Agent, visible_sql
from core.http import safe_next_url
from core.pagecache import (
    Parts,
    cached_page,
    related_table,
    row_version,
    rows_version,
    viewer_pk,
)
from core.paginator import CachedCountPaginator

from . import panels, rules, services
from .forms import LEADERBOARD_SORTS, LeaderboardForm, RatingForm
from .models import LEADERBOARD_ORDER, AgentAchievement, AgentStats

PAGE_SIZE = 25
ACHIEVEMENT_PAGE_SIZE = 10  # agents per page, each with every achievement
# What a leaderboard row shows, as values: a page of 25 dicts, not 75 model objects with
# their JSON and timestamps (issue 13).
LEADERBOARD_ROW = (
    "agent_id",
    "level",
    "experience_points",
    "rating",
    "total_ratings",
    "earnings",
    "competitions_won",
    "achievement_codes",
)
LEADERBOARD_NAMES = {
    "name": F("agent__name"),
    "owner_id": F("agent__owner_id"),
    "owner_name": F("agent__owner__username"),
}
PANEL_REGIONS = {"agent-stats", "agent-achievements", "agent-ratings"}  # partials = element ids


def _agent(request: AuthedHttpRequest, agent_id: int) -> Agent:
    """Agents whose stats the user may see (visible, or run by them before): 404 else."""
    return Agent.objects.select_related("owner", "stats").get_for(
        request.user, agent_id, need="review"
    )


def _leaderboard_sort(request: AuthedHttpRequest) -> str:
    form = LeaderboardForm(request.GET or None)
    if form.is_valid() and form.cleaned_data["sort"]:
        return form.cleaned_data["sort"]
    return "xp"


def _leaderboard_parts(request: AuthedHttpRequest) -> Parts | None:
    """What the leaderboard's first page shows, for the page cache: its rows (stats, agent,
    owner) in the page's order among the agents the user may see, and the total it pages
    by. Only while that total is kept (a large list's, core.paginator): a small list is
    counted on every request and renders as usual, as do later pages."""
    if request.GET.get("page", "1") != "1":
        return None
    sort = _leaderboard_sort(request)
    total = CachedCountPaginator.kept_count(_leaderboard_count_key(request, sort))
    if total is None:
        return None
    stats, agents = AgentStats._meta.db_table, related_table(AgentStats, "agent")
    users = related_table(Agent, "owner")
    order = ", ".join(
        f"s.{name[1:]} DESC" if name.startswith("-") else f"s.{name}"
        for name in LEADERBOARD_ORDER[sort]
    )
    rated = (
        f" AND s.total_ratings >= {int(rules.LEADERBOARD_MIN_RATINGS)}" if sort == "rating" else ""
    )
    return [
        "SELECT %(total)s::bigint",
        rows_version(
            f"SELECT {row_version('s', 'a', 'u')} AS v"
            f" FROM {stats} s JOIN {agents} a ON a.id = s.agent_id"
            f" JOIN {users} u ON u.id = a.owner_id WHERE {visible_sql('a')}{rated}"
            f" ORDER BY {order} LIMIT {PAGE_SIZE}"
        ),
    ], {"total": total}


def _leaderboard_count_key(request: AuthedHttpRequest, sort: str) -> str:
    return f"leaderboard:{viewer_pk(request)}:{sort}"


@require_GET
@cached_page(_leaderboard_parts)
@login_required
def leaderboard(request: AuthedHttpRequest) -> HttpResponse:
    sort = _leaderboard_sort(request)
    # The agents this user can see (own, rented, listed): a leaderboard must not reveal
    # private agents that the agent pages would answer with a 404.
    rows = AgentStats.objects.leaderboard(
        sort=sort, agents=Agent.objects.visible_to(request.user), ranked=False
    ).values(*LEADERBOARD_ROW, **LEADERBOARD_NAMES)
    # The total counts every visible agent; a large one is kept a few seconds (core.paginator).
    paginator = CachedCountPaginator(
        rows, PAGE_SIZE, count_key=_leaderboard_count_key(request, sort)
    )
    page = paginator.get_page(request.GET.get("page"))
    # The rank is the row's position in this ordering: the page's offset plus its place on
    # the page, with no window function ranking every row per request (issue 13).
    for rank, row in enumerate(page.object_list, start=page.start_index()):
        row["rank"] = rank
    # The table's rows are cached under everything they show, so a change shows at once.
    rows_key = [tuple(row.values()) for row in page.object_list]
    template = "gamification/leaderboard.html"
    if request.htmx:
        template += "#leaderboard-results"
    return render(
        request,
        template,
        {
            "page": page,
            "rows_key": rows_key,
            "sort": sort,
            "sorts": LEADERBOARD_SORTS,
            "min_ratings": rules.LEADERBOARD_MIN_RATINGS,
        },
    )


def _achievement_list_parts(request: AuthedHttpRequest) -> Parts | None:
    """What the first page of the achievements shows, for the page cache, in one pass over
    the stats rows of the user's agents: their versions, summed (the totals: unlocks are
    copied onto the stats row in the same transaction, gamification.services; and the
    ranking), and those of the page's rows with their agents. Other pages render as usual."""
    if request.GET.get("page", "1") != "1":
        return None
    stats, agents = AgentStats._meta.db_table, related_table(AgentStats, "agent")
    # The user's agents from the owner index (index-only), their stats rows by their unique
    # index; the page's rows are picked from what that pass read, in the view's order.
    return [
        "SELECT count(*)::text || ':'"
        " || coalesce(sum(s.xmin::text::bigint + hashtext(s.ctid::text)), 0)::text || ':'"
        f" || coalesce((SELECT string_agg({row_version('p', 'a')}, ','"
        " ORDER BY p.experience_points DESC, p.agent_id)"
        f" FROM {stats} p JOIN {agents} a ON a.id = p.agent_id WHERE p.agent_id = ANY(("
        " array_agg(s.agent_id ORDER BY s.experience_points DESC, s.agent_id)"
        f")[1:{ACHIEVEMENT_PAGE_SIZE}])), '')"
        f" FROM {stats} s WHERE s.agent_id = ANY(ARRAY("
        f"SELECT o.id FROM {agents} o WHERE o.owner_id = %(viewer)s))",
    ], {}


@require_GET
@cached_page(_achievement_list_parts)
@login_required
def achievement_list(request: AuthedHttpRequest) -> HttpResponse:
    """The user's own agents with every achievement, unlocked or still to get, a page of
    agents at a time (a page of all of them grew with every agent: issue 13)."""
    mine = AgentStats.objects.filter(agent__owner=request.user)
    # The page count and the totals over all the user's agents in one query; the unlock
    # rows are achievement_codes' source (gamification.services), so counting them is exact.
    totals = mine.aggregate(
        agents=Count("pk", distinct=True), unlocked=Count("agent__achievement_unlocks")
    )
    rows = mine.select_related("agent").order_by("-experience_points", "agent_id")
    paginator = Paginator(rows, ACHIEVEMENT_PAGE_SIZE)
    paginator.count = totals["agents"]
    page = paginator.get_page(request.GET.get("page"))
    stats = list(page.object_list)
    dates = AgentAchievement.objects.unlock_dates([s.agent_id for s in stats])
    boards = [
        {
            "stats": s,
            "agent": s.agent,
            "level": s.level_progress,
            # Built only when the board's cached HTML is missing (templates call callables).
            "achievements": partial(
                panels.achievement_board, stats=s, unlocked_at=dates.get(s.agent_id, {})
            ),
            # What the board shows: the agent, its stats row and its unlock dates.
            "key": (
                s.agent.name,
                [getattr(s, field.attname) for field in AgentStats._meta.concrete_fields],
                sorted(dates.get(s.agent_id, {}).items()),
            ),
        }
        for s in stats
    ]
    return render(
        request,
        "gamification/achievement_list.html",
        {
            "page": page,
            "boards": boards,
            "rules": rules.ACHIEVEMENTS,
            "unlocked": totals["unlocked"],
            "possible": totals["agents"] * len(rules.ACHIEVEMENTS),
        },
    )


@require_GET
@login_required
def agent_stats(request: AuthedHttpRequest, agent_id: int) -> HttpResponse:
    """The agent's stats panel as a page of its own (the agent and listing pages include
    the same panel). htmx requests for one region get that region's partial."""
    agent = _agent(request, agent_id)
    template = "gamification/agent_stats.html"
    if request.htmx and request.htmx.target in PANEL_REGIONS:
        template = f"gamification/_agent_panel.html#{request.htmx.target}"
    return render(request, template, _panel(request, agent))


@require_POST
@login_required
def rating_save(request: AuthedHttpRequest, agent_id: int) -> HttpResponse:
    agent = _agent(request, agent_id)
    refusal = services.rating_eligibility(agent=agent, user=request.user)
    if refusal:
        raise PermissionDenied(refusal)
    form = RatingForm(request.POST)
    if not form.is_valid():
        context = _panel(request, agent, form=form)
        if request.htmx:
            # htmx does not swap 4xx responses: the fragment carries the errors instead.
            return render(request, "gamification/_agent_panel.html#agent-ratings", context)
        return render(request, "gamification/agent_stats.html", context, status=422)
    outcome = services.rating_save(
        agent=agent,
        user=request.user,
        stars=form.cleaned_data["stars"],
        comment=form.cleaned_data["comment"],
    )
    agent = _agent(request, agent_id)  # fresh stats for the response
    saved = "Rating saved." if outcome.created else "Rating updated."
    if not request.htmx:
        messages.success(request, saved)
        for notice in outcome.notices:
            messages.info(request, notice)
        return redirect(_next_url(request, agent))
    # One response, two regions: the ratings (swapped in place) and the stats summary
    # (XP and level change with a 5-star rating), sent out of band.
    context = _panel(request, agent, saved=saved, notices=outcome.notices)
    return render(request, "gamification/_rating_saved.html", context)


def _panel(request: AuthedHttpRequest, agent: Agent, **extra) -> dict:
    panel = panels.agent_panel_context(agent=agent, user=request.user)
    panel.update(extra)
    # The rating form returns to the page it sits on (this one, the agent page, a listing).
    here = request.get_full_path() if request.method == "GET" else request.POST.get("next", "")
    if request.htmx and request.htmx.current_url:
        here = request.htmx.current_url
    return {"agent": agent, "gamification": panel, "next": here}


def _next_url(request: AuthedHttpRequest, agent: Agent) -> str:
    return safe_next_url(request, reverse("gamification:agent_stats", args=[agent.pk]))
