"""Competition results in gamification: podium XP, wins and the `champion` achievement,
counted once by the competitions' payout (competition_settle), and shown on the agent's
stats panel, the leaderboard and the API's AgentStats."""

from datetime import timedelta

import pytest
from django.utils import timezone

from competitions.judging import competitions_close_due
from competitions.models import Competition, Evaluation
from competitions.services import TaskSpec, competition_create, competition_enter
from competitions.services import competition_settle as settle
from gamification import rules
from gamification.models import AgentAchievement, AgentStats, ExperienceEvent
from gamification.services import record_competition_result
from tests.factories import AgentFactory, UserFactory

pytestmark = pytest.mark.django_db

TASKS = [TaskSpec("What is 6 times 7?", "42", "number"), TaskSpec("Say hi", "hi", "contains")]


def judged(organizer, scores: list[int], agents: list | None = None) -> tuple[Competition, list]:
    """A competition closed and graded with one entry per score (tasks passed, in entry
    order; the earlier entry is faster on ties), not settled yet: new agents, or `agents`.
    Returns it and the agents."""
    competition = competition_create(
        organizer=organizer,
        title="Quiz",
        entry_fee="10.00",
        prize="100.00",
        closes_at=timezone.now() + timedelta(seconds=600),
        tasks=TASKS,
    )
    agents = agents or [AgentFactory(owner=UserFactory()) for _ in scores]
    for agent in agents:
        competition_enter(competition=competition, agent=agent, by=agent.owner)
    Competition.objects.filter(pk=competition.pk).update(closes_at=timezone.now())
    assert competitions_close_due() == 1
    for place, (agent, score) in enumerate(zip(agents, scores, strict=True)):
        for position, evaluation in enumerate(
            Evaluation.objects.filter(entry__agent=agent).order_by("task__position")
        ):
            passed = position < score
            evaluation.status = Evaluation.Status.PASSED if passed else Evaluation.Status.FAILED
            evaluation.duration_ms = 1000 * (place + 1)
            evaluation.graded_at = timezone.now()
            evaluation.save()
    return competition, agents


def stats(agent) -> AgentStats:
    """The agent's stats row, or zeros when nothing was ever counted for it."""
    return AgentStats.objects.filter(agent=agent).first() or AgentStats(agent=agent)


def test_podium_xp_by_rank():
    assert [rules.podium_xp(rank=rank) for rank in (1, 2, 3, 4, 0)] == [200, 100, 50, 0, 0]


def test_the_winner_becomes_champion_and_the_podium_earns_xp(user):
    competition, (first, second, third, fourth) = judged(user, [2, 1, 1, 1])

    assert settle(competition_id=competition.pk)

    ranks = dict(competition.entries.values_list("agent_id", "rank"))
    assert [ranks[a.pk] for a in (first, second, third, fourth)] == [1, 2, 3, 4]
    won = stats(first)
    assert (won.competitions_won, won.competition_podiums) == (1, 1)
    assert won.experience_points == 200 and won.level == 2
    assert "champion" in won.achievement_codes
    assert AgentAchievement.objects.filter(agent=first, achievement__code="champion").exists()
    for agent, xp in ((second, 100), (third, 50)):
        placed = stats(agent)
        assert (placed.competitions_won, placed.competition_podiums) == (0, 1)
        assert placed.experience_points == xp
        assert "champion" not in placed.achievement_codes
    assert stats(fourth).experience_points == 0 and stats(fourth).competition_podiums == 0
    events = ExperienceEvent.objects.filter(kind=ExperienceEvent.Kind.PODIUM)
    assert sorted(events.values_list("agent_id", "xp", "competition_id")) == sorted(
        [(first.pk, 200, competition.pk), (second.pk, 100, competition.pk),
         (third.pk, 50, competition.pk)]
    )  # fmt: skip
    assert events.get(agent=first).level_after == 2


def test_settling_again_awards_nothing_more(user):
    competition, (first, second) = judged(user, [2, 1])
    assert settle(competition_id=competition.pk)

    assert not settle(competition_id=competition.pk)
    # Even called again by hand, the result is counted once per agent and competition.
    assert record_competition_result(agent_id=first.pk, rank=1, competition_id=competition.pk) == []

    assert (stats(first).competitions_won, stats(first).experience_points) == (1, 200)
    assert stats(second).experience_points == 100
    assert ExperienceEvent.objects.filter(kind="podium").count() == 2


def test_a_second_win_counts_and_keeps_one_champion_unlock(user):
    competition, (winner,) = judged(user, [1])
    assert settle(competition_id=competition.pk)
    again, _ = judged(user, [2], agents=[winner])

    assert settle(competition_id=again.pk)

    assert (stats(winner).competitions_won, stats(winner).experience_points) == (2, 400)
    assert AgentAchievement.objects.filter(agent=winner, achievement__code="champion").count() == 1


def test_nobody_placing_awards_nothing(user):
    competition, agents = judged(user, [0, 0])

    assert settle(competition_id=competition.pk)

    competition.refresh_from_db()
    assert competition.status == "cancelled"
    assert not ExperienceEvent.objects.filter(kind="podium").exists()


def test_a_deleted_winner_is_skipped_and_the_others_still_count(user):
    competition, (first, second) = judged(user, [2, 1])
    first.delete()

    assert settle(competition_id=competition.pk)

    assert stats(second).competition_podiums == 1 and stats(second).experience_points == 100
    assert ExperienceEvent.objects.filter(kind="podium").count() == 1


# --- pages and API ---------------------------------------------------------------------------


def test_the_stats_panel_shows_the_wins_and_the_champion_achievement(client):
    organizer = UserFactory()
    competition, (winner, runner_up) = judged(organizer, [2, 1])
    settle(competition_id=competition.pk)
    client.force_login(winner.owner)

    content = client.get(f"/leaderboard/agents/{winner.pk}/").content.decode()

    assert 'data-testid="champion"' in content and "Champion</span>" in content
    assert "1 won, 1 on the podium (top 3)" in content
    assert 'Latest unlock: <span aria-hidden="true">♛</span> Champion' in content
    client.force_login(runner_up.owner)
    content = client.get(f"/leaderboard/agents/{runner_up.pk}/").content.decode()
    assert 'data-testid="champion"' not in content
    assert "0 won, 1 on the podium (top 3)" in content


def test_the_agent_page_shows_the_champion_badge(client):
    competition, (winner,) = judged(UserFactory(), [1])
    settle(competition_id=competition.pk)
    client.force_login(winner.owner)

    content = client.get(f"/dashboard/agents/{winner.pk}/").content.decode()

    assert 'data-testid="champion"' in content


def test_the_leaderboard_shows_wins_within_its_query_budget(client, django_assert_max_num_queries):
    organizer = UserFactory()
    competition, (winner, runner_up) = judged(organizer, [2, 1])
    settle(competition_id=competition.pk)
    viewer = winner.owner
    for number in range(25):
        AgentFactory(owner=viewer, name=f"Extra {number}")
    client.force_login(viewer)

    with django_assert_max_num_queries(5):  # test_views' budget for a page of 25 rows
        content = client.get("/leaderboard/").content.decode()

    assert 'data-label="Wins"><span aria-label="1 competition won">♛ 1</span>' in content


def test_the_api_stats_carry_the_wins(make_api_client):
    competition, (winner,) = judged(UserFactory(), [1])
    settle(competition_id=competition.pk)

    body = make_api_client(winner.owner).get(f"/api/v1/agents/{winner.pk}/stats").json()

    assert body["competitions_won"] == 1 and body["competition_podiums"] == 1
    assert "champion" in body["achievements"] and body["experience_points"] == 200
