import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.demo import DEMO_PASSWORD, DEMO_USERS

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_seed_demo_is_idempotent_and_prints_passwords(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    output = capsys.readouterr().out
    User = get_user_model()
    assert User.objects.count() == len(DEMO_USERS)
    for username, _email, _staff in DEMO_USERS:
        assert User.objects.get(username=username).check_password(DEMO_PASSWORD)
        assert username in output
    assert DEMO_PASSWORD in output
    assert User.objects.get(username="admin").is_staff


def test_seed_demo_opens_a_competition_with_an_entry_once():
    from competitions.models import Competition, Entry
    from tests.competitions.conftest import assert_money_conserved

    call_command("seed_demo")
    call_command("seed_demo")

    competition = Competition.objects.get(title="Quick arithmetic")
    assert competition.organizer.username == "alice" and competition.is_open
    assert competition.tasks.count() == 3
    entry = Entry.objects.get(competition=competition)
    assert entry.owner.username == "bob" and entry.fee == 5
    assert_money_conserved()
