"""Judging by the real worker, end to end: its periodic job closes the competition, the
agents' turns run on the local fake OpenAI server (`echo` answers each prompt word for
word, the scripted `wrong` never does), and the job ranks and pays."""

import time
from decimal import Decimal

import pytest
from django.utils import timezone

from competitions.models import Competition
from competitions.services import TaskSpec, competition_enter
from marketplace.models import LedgerEntry
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.slow

WRONG = ["Thought: I guess.\n<code>\nfinal_answer('no idea')\n</code>"]


def test_the_worker_judges_and_pays(worker, fake_llm, user, make_competition):
    fake_llm.scripts["wrong"] = WRONG
    tasks = [TaskSpec("Repeat: alpha", "Repeat: alpha", "exact"),
             TaskSpec("Repeat: beta 7", "7", "number")]  # fmt: skip
    competition = make_competition(user, entry_fee="10.00", prize="30.00", tasks=tasks)
    right_owner, wrong_owner = UserFactory(), UserFactory()
    right = AgentFactory(owner=right_owner, model="openai:echo")
    wrong = AgentFactory(owner=wrong_owner, model="openai:wrong")
    competition_enter(competition=competition, agent=right, by=right_owner)
    competition_enter(competition=competition, agent=wrong, by=wrong_owner)
    Competition.objects.filter(pk=competition.pk).update(closes_at=timezone.now())

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        competition.refresh_from_db()
        if competition.status in ("finished", "cancelled"):
            break
        time.sleep(0.2)
    assert competition.status == "finished"
    entries = {e.agent_id: e for e in competition.entries.all()}
    assert entries[right.pk].rank == 1 and entries[right.pk].score == 2
    assert entries[wrong.pk].rank is None and entries[wrong.pk].score == 0
    # Pool 50, fee 5: the one placed entry takes 45.
    assert entries[right.pk].payout == Decimal("45.00")
    assert LedgerEntry.objects.escrow().total() == 0
    assert_money_conserved()
