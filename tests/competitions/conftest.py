from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from competitions.services import TaskSpec, competition_create
from marketplace.models import LedgerEntry, Wallet, cents


def assert_money_conserved() -> None:
    """wallets + platform + escrow = grants (docs/DESIGN.md "Money")."""
    granted = LedgerEntry.objects.filter(kind__in=LedgerEntry.GRANTS).total()
    balances = cents(Wallet.objects.aggregate(total=Sum("balance"))["total"])
    platform = LedgerEntry.objects.platform().total()
    escrow = LedgerEntry.objects.escrow().total()
    assert balances + platform + escrow == granted, (balances, platform, escrow, granted)
    for wallet in Wallet.objects.annotate(total=Sum("entries__amount")):
        assert wallet.balance == cents(wallet.total), wallet


TASKS = [
    TaskSpec("What is 6 times 7?", "42", "number"),
    TaskSpec("Say hello", "hello", "contains"),
]


@pytest.fixture
def make_competition():
    def make(organizer, *, entry_fee="10.00", prize="100.00", tasks=None, seconds=600):
        return competition_create(
            organizer=organizer,
            title="Quiz",
            description="Answer well",
            entry_fee=entry_fee,
            prize=prize,
            closes_at=timezone.now() + timedelta(seconds=seconds),
            tasks=list(tasks or TASKS),
        )

    return make


# The real worker (its periodic jobs included) and the local fake OpenAI server.
from tests.agents.conftest import fake_llm, worker, worker_process  # noqa: E402, F401
