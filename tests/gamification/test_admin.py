import pytest

from gamification import services
from gamification.models import AgentStats, Rating
from tests.factories import UserFactory

from .conftest import finish_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def ratings(agent):
    made = []
    for stars in (5, 1):
        rater = UserFactory()
        finish_run(agent, rater)
        made.append(services.rating_save(agent=agent, user=rater, stars=stars).rating)
    return made


def test_admin_pages_load(staff_client, agent, ratings):
    stats = AgentStats.objects.get(agent=agent)
    for url in (
        "/admin/gamification/agentstats/",
        f"/admin/gamification/agentstats/{stats.pk}/change/",
        "/admin/gamification/rating/?q=Scorer",
        f"/admin/gamification/rating/{ratings[0].pk}/change/",
        "/admin/gamification/achievement/",
        "/admin/gamification/agentachievement/",
        "/admin/gamification/experienceevent/",
    ):
        assert staff_client.get(url).status_code == 200, url


def test_stats_are_read_only_in_admin(staff_client, agent):
    stats = AgentStats.objects.get(agent=agent)

    response = staff_client.get(f"/admin/gamification/agentstats/{stats.pk}/change/")

    assert b'name="experience_points"' not in response.content


def test_hide_action_asks_for_a_reason_then_hides(staff_client, agent, ratings):
    bad = ratings[1]
    data = {"action": "hide_ratings", "_selected_action": [bad.pk]}

    ask = staff_client.post("/admin/gamification/rating/", data)
    assert ask.status_code == 200 and b"Give the reason" in ask.content
    empty = staff_client.post("/admin/gamification/rating/", {**data, "apply": "1", "reason": ""})
    assert empty.status_code == 200
    done = staff_client.post(
        "/admin/gamification/rating/", {**data, "apply": "1", "reason": "Abusive"}
    )

    assert done.status_code == 302
    bad.refresh_from_db()
    assert bad.is_hidden and bad.hidden_reason == "Abusive"
    stats = AgentStats.objects.get(agent=agent)
    assert (stats.rating, stats.total_ratings) == (5.0, 1)


def test_unhide_action(staff_client, agent, ratings, staff_user):
    services.rating_hide(rating=ratings[1], by=staff_user, reason="Spam")

    staff_client.post(
        "/admin/gamification/rating/",
        {"action": "unhide_ratings", "_selected_action": [ratings[1].pk]},
    )

    assert not Rating.objects.get(pk=ratings[1].pk).is_hidden
    assert AgentStats.objects.get(agent=agent).total_ratings == 2
