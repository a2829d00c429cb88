"""Creating, entering and cancelling competitions: errors and money."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from competitions.models import Competition
from competitions.services import (
    TaskSpec,
    competition_cancel,
    competition_create,
    competition_enter,
    payouts_for,
)
from core.errors import Conflict, Forbidden, Invalid, PaymentRequired
from marketplace.models import LedgerEntry
from marketplace.services import wallet_for
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db


def available(user) -> Decimal:
    wallet = wallet_for(user=user)
    wallet.refresh_from_db()
    return wallet.balance - wallet.held


def test_create_takes_the_prize_into_escrow(user, make_competition):
    make_competition(user, prize="100.00")
    assert available(user) == Decimal("900.00")
    assert LedgerEntry.objects.escrow().total() == Decimal("100.00")
    assert LedgerEntry.objects.platform().total() == 0
    assert_money_conserved()


def test_prize_beyond_available_credits_is_402(user, make_competition):
    with pytest.raises(PaymentRequired):
        make_competition(user, prize="1000.01")
    assert not Competition.objects.exists()
    assert available(user) == Decimal("1000.00")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seconds": 10}, "closes at least"),
        ({"tasks": []}, "1 to 50 tasks"),
        ({"tasks": [TaskSpec("q", "a", "exact")] * 51}, "1 to 50 tasks"),
        ({"tasks": [TaskSpec("x" * 5001, "a", "exact")]}, "prompt"),
        ({"tasks": [TaskSpec("q", "a", "regex")]}, "grader"),
        ({"prize": "-1"}, "prize"),
    ],
)
def test_bad_input_is_invalid_and_never_echoes_a_task(user, make_competition, changes, message):
    tasks = changes.pop("tasks", None)
    with pytest.raises(Invalid) as caught:
        if tasks is not None:
            competition_create(
                organizer=user, title="T", entry_fee="1", prize="1",
                closes_at=timezone.now() + timedelta(hours=1), tasks=tasks,
            )  # fmt: skip
        else:
            make_competition(user, **changes)
    assert message in caught.value.message
    assert "xxxx" not in caught.value.message


def test_enter_pays_the_fee_and_refuses_repeats(user, other_user, make_competition):
    competition = make_competition(user)
    agent = AgentFactory(owner=other_user)
    competition_enter(competition=competition, agent=agent, by=other_user)
    assert available(other_user) == Decimal("990.00")
    with pytest.raises(Conflict):
        competition_enter(competition=competition, agent=agent, by=other_user)
    assert available(other_user) == Decimal("990.00")
    assert_money_conserved()


def test_enter_refusals(user, other_user, make_competition):
    competition = make_competition(user)
    with pytest.raises(Conflict, match="organizer"):
        competition_enter(competition=competition, agent=AgentFactory(owner=user), by=user)
    with pytest.raises(Conflict, match="not running"):
        stopped = AgentFactory(owner=other_user, state="stopped")
        competition_enter(competition=competition, agent=stopped, by=other_user)
    with pytest.raises(Forbidden):
        competition_enter(competition=competition, agent=AgentFactory(), by=other_user)
    Competition.objects.filter(pk=competition.pk).update(closes_at=timezone.now())
    with pytest.raises(Conflict, match="closed"):
        competition_enter(
            competition=competition, agent=AgentFactory(owner=other_user), by=other_user
        )


def test_fee_beyond_available_credits_is_402(user, make_competition):
    poor = UserFactory()
    competition = make_competition(user, entry_fee="1000.01")
    with pytest.raises(PaymentRequired):
        competition_enter(competition=competition, agent=AgentFactory(owner=poor), by=poor)
    assert not competition.entries.exists()
    assert available(poor) == Decimal("1000.00")


def test_cancel_refunds_everything(user, other_user, make_competition):
    competition = make_competition(user)
    for _ in range(2):
        competition_enter(
            competition=competition, agent=AgentFactory(owner=other_user), by=other_user
        )
    with pytest.raises(Forbidden):
        competition_cancel(competition=competition, by=other_user)
    competition = competition_cancel(competition=competition, by=user)
    assert competition.status == "cancelled"
    assert available(user) == available(other_user) == Decimal("1000.00")
    assert LedgerEntry.objects.escrow().total() == 0
    assert_money_conserved()
    with pytest.raises(Conflict):
        competition_cancel(competition=competition, by=user)


def test_staff_cancel_refunds(user, staff_user, make_competition):
    competition = make_competition(user)
    competition_cancel(competition=competition, by=staff_user, staff=True)
    assert available(user) == Decimal("1000.00")


@pytest.mark.parametrize(
    ("pool", "places", "fee", "payouts"),
    [
        ("100.00", 3, "10.00", ["45.00", "27.00", "18.00"]),
        ("100.00", 2, "10.00", ["56.25", "33.75"]),
        ("100.00", 1, "10.00", ["90.00"]),
        ("10.01", 3, "1.00", ["4.51", "2.70", "1.80"]),
        ("0.03", 3, "0.00", ["0.03", "0.00", "0.00"]),
    ],
)
def test_payouts_split_50_30_20_down_to_the_cent(pool, places, fee, payouts):
    got_fee, got = payouts_for(Decimal(pool), places)
    assert got_fee == Decimal(fee)
    assert got == [Decimal(p) for p in payouts]
    assert got_fee + sum(got) == Decimal(pool)
