"""Reads that build gamification's page panels: the stats panel (on the agent page, the
listing page and its own page), the achievement boards, and the notices under a finished
run. Nothing here writes; services.py does."""

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.utils import timezone

from agents import panels as agent_panels
from agents.models import Agent, Run
from core.pagecache import related_table, row_version, rows_version

from . import charts, rules
from .forms import RatingForm
from .models import AgentAchievement, AgentStats, ExperienceEvent, Rating
from .services import Outcome, rating_eligibility


def stats_of(agent: Agent) -> AgentStats:
    """The agent's stats row, or zeros before its first count (never saved here)."""
    stats = getattr(agent, "stats", None)
    return stats if stats is not None else AgentStats(agent=agent)


def runs_per_day(*, agent: Agent, days: int = 14) -> list[tuple]:
    """[(date, counted runs finished that day)] for the last `days` days, oldest first."""
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


def agent_panel_context(*, agent: Agent, user) -> dict:
    """What the stats panel needs: the stats and their pictures, level and XP bar,
    achievements (locked ones with how to get them), ratings and the rating form."""
    stats = stats_of(agent)
    ratings = list(Rating.objects.shown().for_agent(agent).select_related("user")[:20])
    refusal = rating_eligibility(agent=agent, user=user)
    mine = None
    if refusal is None:  # the form is shown: it starts from the user's rating
        mine = next((r for r in ratings if r.user_id == user.pk), None) or (
            Rating.objects.filter(agent_id=agent.pk, user_id=user.pk).first()
        )
    initial = {"stars": mine.stars, "comment": mine.comment} if mine else {}
    dates = AgentAchievement.objects.unlock_dates([agent.pk]).get(agent.pk, {})
    latest = max(dates.items(), key=lambda item: item[1], default=None)
    board = achievement_board(stats=stats, unlocked_at=dates)
    return {
        "stats": stats,
        "level": stats.level_progress,
        "success_bar": charts.success_bar(
            succeeded=stats.successful_requests, failed=stats.failed_requests
        ),
        "sparkline": charts.sparkline(runs_per_day(agent=agent)),
        "achievements": board,
        # What the achievement cards show: their HTML is cached under it (issue 13).
        "achievements_key": [
            (item["rule"].code, item["unlocked"], item["unlocked_at"], item["progress"])
            for item in board
        ],
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


def _run_outcomes(runs: list[Run]) -> dict[int, Outcome]:
    """What counting each run awarded (its XP row and unlocks), by run id, in two queries;
    runs not counted yet are missing."""
    events = ExperienceEvent.objects.filter(run_id__in=[run.pk for run in runs])
    codes: dict[int, set[str]] = {}
    for run_id, code in AgentAchievement.objects.filter(
        run_id__in=[run.pk for run in runs]
    ).values_list("run_id", "achievement__code"):
        codes.setdefault(run_id, set()).add(code)
    return {
        event.run_id: Outcome(
            event=event,
            unlocked=[
                rule for rule in rules.ACHIEVEMENTS if rule.code in codes.get(event.run_id, ())
            ],
        )
        for event in events
        if event.run_id is not None
    }


def _run_outcome(run: Run) -> Outcome | None:
    """What counting the run awarded, or None until it is counted."""
    return _run_outcomes([run]).get(run.pk)


def run_notices(*, run: Run) -> list[str]:
    """Short notices for what a finished run unlocked ("Level 2 reached", "Achievement
    unlocked: First run"), shown in the chat under that run. Empty until it is counted."""
    outcome = _run_outcome(run)
    return outcome.notices if outcome else []


# --- panels on agents' pages (registered in GamificationConfig.ready) ----------------------


def _agent_detail_panel(request: HttpRequest, agent: Agent) -> dict:
    return {
        "agent": agent,
        "gamification": agent_panel_context(agent=agent, user=request.user),
        "next": request.get_full_path(),
    }


def _run_final_context(outcome: Outcome | None) -> dict | None:
    """The XP the run earned ("+15 XP") and its level-ups and unlocks; nothing for a run
    that earned nothing (a failed one) or is not counted (cancelled)."""
    if outcome is None or outcome.event is None:
        return None
    xp, notices = outcome.event.xp, outcome.notices
    if not xp and not notices:
        return None
    return {"xp": xp, "notices": notices}


def _run_final_panel(request: HttpRequest, run: Run) -> dict | None:
    return _run_final_context(_run_outcome(run))


def _run_final_panels(request: HttpRequest, runs: list[Run]) -> dict[int, dict | None]:
    outcomes = _run_outcomes(runs)
    return {run.pk: _run_final_context(outcomes.get(run.pk)) for run in runs}


def _agent_detail_fingerprint() -> list[str]:
    """What the stats panel shows (core.pagecache): the stats row (every counted run and
    rating moves it; the runs-per-day chart follows from those and the date), the shown
    ratings and the viewer's own, whether the viewer may rate (a finished run of theirs),
    and the unlocks."""
    stats, ratings = AgentStats._meta.db_table, Rating._meta.db_table
    users = related_table(Rating, "user")
    unlocks, runs = AgentAchievement._meta.db_table, Run._meta.db_table
    final = ", ".join(f"'{status}'" for status in Run.Status.values if status not in Run.IN_FLIGHT)
    return [
        f"SELECT {row_version('s')} FROM {stats} s WHERE s.agent_id = %(agent)s",
        rows_version(
            f"SELECT {row_version('g', 'u')} AS v FROM {ratings} g"
            f" JOIN {users} u ON u.id = g.user_id WHERE g.agent_id = %(agent)s"
            " AND NOT g.is_hidden ORDER BY g.updated_at DESC, g.id DESC LIMIT 20"
        ),
        rows_version(
            f"SELECT {row_version('g')} AS v FROM {ratings} g WHERE g.agent_id = %(agent)s"
            " AND g.user_id = %(viewer)s"
        ),
        f"SELECT EXISTS (SELECT 1 FROM {runs} r WHERE r.agent_id = %(agent)s"
        f" AND r.user_id = %(viewer)s AND r.status IN ({final}))",
        f"SELECT count(*) FROM {unlocks} k WHERE k.agent_id = %(agent)s",
    ]


def register() -> None:
    agent_panels.register(
        "agent_detail",
        name="gamification",
        template="gamification/_agent_panel.html",
        context=_agent_detail_panel,
        order=10,
        fingerprint=_agent_detail_fingerprint(),
    )
    agent_panels.register(
        "run_final",
        name="gamification",
        template="gamification/_run_notices.html",
        context=_run_final_panel,
        batch=_run_final_panels,
    )
