"""What entrants and organizers are told: a notice with the score, rank and payout when a
competition finishes; the reason and the refund when it is cancelled (by its organizer, by
staff, or because nobody solved a task)."""

import pytest

from accounts.models import Notification
from competitions.models import Competition
from competitions.services import competition_cancel, competition_enter
from tests.factories import AgentFactory, UserFactory

from .test_judging import RIGHT, close, judge_to_the_end

pytestmark = pytest.mark.django_db


def texts(user) -> list[str]:
    return list(Notification.objects.filter(user=user).values_list("text", flat=True))


def entrants(competition, n: int):
    owners = [UserFactory() for _ in range(n)]
    agents = [AgentFactory(owner=owner, name=f"Bot {i}") for i, owner in enumerate(owners)]
    for agent, owner in zip(agents, owners, strict=True):
        competition_enter(competition=competition, agent=agent, by=owner)
    return owners, agents


def test_a_finished_competition_tells_each_entrant_their_result(user, make_competition):
    competition = make_competition(user, entry_fee="10.00", prize="100.00")
    (winner, loser), (best, wrong) = entrants(competition, 2)
    close(competition)
    judge_to_the_end({best.pk: RIGHT}, {best.pk: 300})

    competition.refresh_from_db()
    assert competition.status == "finished" and competition.status_reason == ""
    [won] = texts(winner)
    assert "“Quiz” finished: Bot 0 solved 2 of 2 tasks and placed #1" in won
    assert "108.00 credits paid to you" in won  # pool 120, fee 12
    [lost] = texts(loser)
    assert lost == "“Quiz” finished: Bot 1 solved 0 of 2 tasks and did not place."
    assert texts(user) == ["“Quiz” finished: 2 entries, won by Bot 0."]
    url = f"/competitions/{competition.pk}/"
    assert set(Notification.objects.values_list("url", flat=True)) == {url}


def test_nobody_placing_cancels_with_the_reason_and_the_refunds(user, make_competition, client):
    competition = make_competition(user, entry_fee="10.00", prize="100.00")
    (owner,), _agents = entrants(competition, 1)
    close(competition)
    judge_to_the_end({}, {})

    competition.refresh_from_db()
    assert competition.status == "cancelled"
    assert competition.status_reason == "No entry solved a task."
    assert texts(owner) == [
        "“Quiz” was cancelled: No entry solved a task. 10.00 credits refunded to you."
    ]
    assert texts(user) == [
        "“Quiz” was cancelled: No entry solved a task. 100.00 credits refunded to you."
    ]
    client.force_login(owner)
    page = client.get(f"/competitions/{competition.pk}/").content.decode()
    assert "No entry solved a task." in page


def test_the_organizer_cancelling_tells_the_entrants_not_themselves(user, make_competition):
    competition = make_competition(user, entry_fee="5.00", prize="50.00")
    (owner,), _agents = entrants(competition, 1)

    competition_cancel(competition=competition, by=user)

    competition.refresh_from_db()
    assert competition.status_reason == "Cancelled by its organizer."
    assert texts(owner) == [
        "“Quiz” was cancelled: Cancelled by its organizer. 5.00 credits refunded to you."
    ]
    assert texts(user) == []


def test_staff_cancelling_tells_the_organizer_too(user, make_competition):
    competition = make_competition(user, entry_fee="5.00", prize="50.00")
    (owner,), _agents = entrants(competition, 1)
    staff = UserFactory(is_staff=True)

    competition_cancel(competition=Competition.objects.get(pk=competition.pk), by=staff, staff=True)

    assert Competition.objects.get(pk=competition.pk).status_reason == (
        "Cancelled by the site's staff."
    )
    assert texts(user) == [
        "“Quiz” was cancelled: Cancelled by the site's staff. 50.00 credits refunded to you."
    ]
    assert len(texts(owner)) == 1 and texts(staff) == []
