"""The page cache (core.pagecache) on the leaderboard and the achievements page: kept on a
second visit, and a change to what they show is there on the next (PostgreSQL only; the
agent page's and the dashboard's are in tests/agents/test_page_cache.py)."""

import pytest
from django.db.models import F
from django.urls import reverse

import core.paginator
from agents.models import Agent
from gamification import rules
from gamification.models import AgentStats
from tests.agents.test_page_cache import page, postgres_only, visit
from tests.factories import AgentFactory, AgentStatsFactory, ListingFactory, UserFactory

pytestmark = [pytest.mark.django_db, postgres_only]


@pytest.fixture
def kept_totals(monkeypatch):
    """Totals are kept from the first row on (a large list's are: core.paginator), as the
    leaderboard is kept only while its total is."""
    monkeypatch.setattr(core.paginator, "EXACT_BELOW", 1)


def visit_board(client, url):
    """visit(), after a first request that keeps the total (the page is kept from then)."""
    client.get(url)
    return visit(client, url)


class TestLeaderboard:
    url = reverse("gamification:leaderboard")

    def test_xp_names_and_visibility_show(self, user_client, user, kept_totals):
        leader = AgentStatsFactory(
            agent=AgentFactory(owner=user, name="Top Agent"), experience_points=50
        )
        listed = ListingFactory(agent=AgentFactory(name="Listed Climber")).agent
        AgentStatsFactory(agent=listed, experience_points=10)
        assert "Listed Climber" in visit_board(user_client, self.url)
        AgentStats.objects.filter(pk=leader.pk).update(
            experience_points=F("experience_points") + 1234
        )
        assert "1,284" in page(user_client, self.url)
        Agent.objects.filter(pk=listed.pk).update(name="Renamed Climber")
        assert "Renamed Climber" in page(user_client, self.url)
        listed.listings.update(status="cancelled")  # no longer visible to this user
        assert "Renamed Climber" not in page(user_client, self.url)

    def test_a_new_agent_climbing_in_shows(self, user_client, user, kept_totals):
        AgentStatsFactory(agent=AgentFactory(owner=user), experience_points=5)
        visit_board(user_client, self.url)
        newcomer = AgentFactory(owner=user, name="Newcomer Agent")
        AgentStatsFactory(agent=newcomer, experience_points=900)
        body = page(user_client, self.url)
        assert "Newcomer Agent" in body

    def test_each_sort_is_kept_on_its_own(self, user_client, user, kept_totals):
        AgentStatsFactory(agent=AgentFactory(owner=user), experience_points=5, earnings=7)
        visit_board(user_client, self.url)
        assert "9,876" not in visit_board(user_client, self.url + "?sort=earnings")

    def test_small_lists_are_rendered(self, user_client, user):
        AgentStatsFactory(agent=AgentFactory(owner=user))
        user_client.get(self.url)
        assert getattr(user_client.get(self.url), "page_cache", None) is None


class TestAchievements:
    url = reverse("gamification:achievement_list")

    def test_stats_and_totals_show(self, user_client, user):
        stats = AgentStatsFactory(agent=AgentFactory(owner=user, name="Badge Hunter"))
        unlocked = 'badge succeeded">unlocked'
        assert visit(user_client, self.url).count(unlocked) == 0
        code = rules.ACHIEVEMENTS[0].code
        AgentStats.objects.filter(pk=stats.pk).update(achievement_codes=[code])
        assert page(user_client, self.url).count(unlocked) == 1
        AgentStatsFactory(agent=AgentFactory(owner=user, name="Second Hunter"))
        body = page(user_client, self.url)
        assert "Second Hunter" in body
        assert "across 2 agents" in body

    def test_another_users_agents_never_show(self, user_client, user):
        AgentStatsFactory(agent=AgentFactory(owner=user, name="Mine Only"))
        visit(user_client, self.url)
        AgentStatsFactory(agent=AgentFactory(owner=UserFactory(), name="Not Mine"))
        assert "Not Mine" not in page(user_client, self.url)
