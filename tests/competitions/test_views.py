"""The competition pages (docs/API.md "Competitions", Pages): the list and its tabs, organizing
one (form, task formset, the service's refusals as form errors), a competition's page (live
judging progress, the final table, an entrant's own results, never a task's text), entering,
cancelling, the organizer's tasks page, and the agent page's panel."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from competitions import judging
from competitions.models import Competition, Evaluation, Task
from competitions.services import TaskSpec, competition_enter
from marketplace.models import Wallet
from tests.factories import AgentFactory, UserFactory

from .conftest import assert_money_conserved

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
SECRET = "Secret prompt 5e1d"
EXPECTED = "hidden answer 93ab"
SECRET_TASKS = [
    TaskSpec(f"{SECRET} one", f"{EXPECTED} one", "exact"),
    TaskSpec(f"{SECRET} two", f"{EXPECTED} two", "contains"),
]


def signed_in(client, user):
    client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


@pytest.fixture
def organizer(db):
    return UserFactory(username="orga")


@pytest.fixture
def entrant(db):
    return UserFactory(username="entrant")


@pytest.fixture
def competition(make_competition, organizer):
    return make_competition(organizer, tasks=SECRET_TASKS)


def enter(competition, owner, **agent):
    agent = AgentFactory(owner=owner, **agent)
    competition_enter(competition=competition, agent=agent, by=owner)
    return agent


def close(competition) -> None:
    """Past closes_at, claimed by the judging job: status judging, evaluations pending."""
    Competition.objects.filter(pk=competition.pk).update(
        closes_at=timezone.now() - timedelta(seconds=1)
    )
    assert judging.competitions_close_due() == 1
    competition.refresh_from_db()


def finish(competition, *, passed_agent_ids=()) -> None:
    """Grade every evaluation (passed for the given agents' entries) and settle."""
    close(competition)
    evaluations = Evaluation.objects.filter(competition=competition)
    evaluations.update(status="failed", duration_ms=1500, graded_at=timezone.now())
    evaluations.filter(entry__agent_id__in=passed_agent_ids).update(status="passed")
    assert judging.competitions_settle_ready() == 1
    competition.refresh_from_db()


def assert_no_task_text(text: str) -> None:
    assert SECRET not in text
    assert EXPECTED not in text


# --- the list ---------------------------------------------------------------------------------


def test_the_list_needs_a_sign_in(client):
    response = client.get("/competitions/")
    assert response.status_code == 302 and "/account/login/" in response["Location"]


@pytest.mark.parametrize(
    ("status", "empty"),
    [
        ("open", "No open competitions"),
        ("judging", "Nothing being judged"),
        ("finished", "No finished competitions yet"),
        ("cancelled", "No cancelled competitions"),
    ],
)
def test_every_tab_has_an_empty_state(client, user, status, empty):
    response = signed_in(client, user).get("/competitions/", {"status": status})
    assert response.status_code == 200
    assert empty in html(response)
    assert 'aria-current="page">Competitions</a>' in html(response)  # the nav link


def test_open_rows_show_pool_fee_entries_and_closing(client, competition, entrant, user):
    enter(competition, entrant)
    text = html(signed_in(client, user).get("/competitions/"))
    assert "Quiz" in text and f"/competitions/{competition.pk}/" in text
    # Pool: the prize 100 and one fee of 10.
    assert "110.00" in text and "10.00" in text
    assert competition.closes_at.strftime("%Y-%m-%d %H:%M") in text
    assert_no_task_text(text)


def test_tabs_filter_by_status_and_an_unknown_one_shows_open(client, competition, organizer):
    other = Competition.objects.create(
        organizer=organizer,
        title="Old cup",
        entry_fee=0,
        prize=0,
        closes_at=timezone.now(),
        status="finished",
        finished_at=timezone.now(),
    )
    client = signed_in(client, organizer)
    assert "Old cup" not in html(client.get("/competitions/"))
    finished = html(client.get("/competitions/?status=finished"))
    assert "Old cup" in finished and f"/competitions/{competition.pk}/" not in finished
    assert f"/competitions/{competition.pk}/" in html(client.get("/competitions/?status=nope"))
    assert other.pk


def test_htmx_request_renders_only_the_results(client, competition, user):
    response = signed_in(client, user).get("/competitions/?status=open", headers=HTMX)
    text = html(response)
    assert response.status_code == 200
    assert text.lstrip().startswith('<section id="competition-results"')
    assert "<html" not in text


def test_the_list_costs_the_same_queries_for_2_or_30_competitions(client, user, organizer):
    def make(n):
        for i in range(n):
            comp = Competition.objects.create(
                organizer=UserFactory(),
                title=f"Cup {i}",
                entry_fee=Decimal("1.00"),
                prize=Decimal("2.00"),
                closes_at=timezone.now() + timedelta(hours=1),
            )
            Task.objects.create(
                competition=comp, position=1, prompt="p", expected="e", grader="exact"
            )
            for _ in range(2):
                agent = AgentFactory()
                comp.entries.create(agent=agent, agent_name=agent.name, owner=agent.owner, fee=1)

    client = signed_in(client, user)
    make(2)
    client.get("/competitions/")  # warm the session and the cached header
    with CaptureQueriesContext(connection) as few:
        response = client.get("/competitions/")
    assert html(response).count("<tr>") == 1 + 2
    assert "4.00" in html(response)  # pool: prize 2 + two fees of 1
    make(28)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/competitions/")
    assert html(response).count("<tr>") == 1 + 25  # a page
    assert len(many) == len(few), [q["sql"] for q in many]
    assert len(few) <= 6


# --- organizing -------------------------------------------------------------------------------


def form_data(tasks: int = 1, **changes) -> dict:
    closes = timezone.now() + timedelta(hours=1)
    data = {
        "title": "Quiz night",
        "description": "Short answers <b>only</b>",
        "entry_fee": "5.00",
        "prize": "20.00",
        "closes_at": closes.strftime("%Y-%m-%dT%H:%M:%S"),
        "tasks-TOTAL_FORMS": str(max(tasks, 3)),
        "tasks-INITIAL_FORMS": "0",
        "tasks-MIN_NUM_FORMS": "0",
        "tasks-MAX_NUM_FORMS": "50",
    }
    for n in range(max(tasks, 3)):
        data[f"tasks-{n}-grader"] = "exact"
    for n in range(tasks):
        data[f"tasks-{n}-prompt"] = f"{SECRET} {n}"
        data[f"tasks-{n}-expected"] = f"{EXPECTED} {n}"
    data.update(changes)
    return data


def test_the_form_offers_blank_task_rows_and_a_hidden_add_button(client, user):
    text = html(signed_in(client, user).get("/competitions/new/"))
    assert 'name="tasks-2-prompt"' in text and 'name="tasks-3-prompt"' not in text
    assert 'id="add-task"' in text and "hidden>Add task" in text
    assert "<template" in text and "tasks-__prefix__-prompt" in text
    assert 'type="datetime-local"' in text
    assert "1,000.00" in text  # available credits


def test_organizing_opens_it_and_takes_the_prize(client, user, settings):
    settings.COMPETITION_MIN_SECONDS = 300
    response = signed_in(client, user).post("/competitions/new/", form_data(tasks=2))
    competition = Competition.objects.get(title="Quiz night")
    assert response.status_code == 302
    assert response["Location"] == f"/competitions/{competition.pk}/"
    # Blank rows are left out.
    assert list(competition.tasks.values_list("prompt", "grader")) == [
        (f"{SECRET} 0", "exact"),
        (f"{SECRET} 1", "exact"),
    ]
    assert competition.organizer == user and competition.prize == Decimal("20.00")
    assert Wallet.objects.get(user=user).balance == Decimal("980.00")
    page = html(client.get(response["Location"]))
    assert "is open until" in page  # the flash message
    assert "Short answers &lt;b&gt;only&lt;/b&gt;" in page  # escaped
    assert_no_task_text(page)
    assert_money_conserved()


def test_too_soon_is_a_form_error(client, user, settings):
    settings.COMPETITION_MIN_SECONDS = 300
    soon = (timezone.now() + timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S")
    response = signed_in(client, user).post("/competitions/new/", form_data(closes_at=soon))
    assert response.status_code == 422
    assert "A competition closes at least 300 s from now." in html(response)
    assert not Competition.objects.exists()
    # What was typed stays in the form.
    assert f"{SECRET} 0" in html(response)


def test_no_tasks_is_a_form_error(client, user):
    response = signed_in(client, user).post("/competitions/new/", form_data(tasks=0))
    assert response.status_code == 422
    assert "Add at least one task." in html(response)
    assert not Competition.objects.exists()


def test_51_tasks_is_a_form_error(client, user):
    response = signed_in(client, user).post("/competitions/new/", form_data(tasks=51))
    assert response.status_code == 422
    assert "A competition has at most 50 tasks; this one has 51." in html(response)
    assert not Competition.objects.exists()


def test_50_tasks_are_fine(client, user):
    response = signed_in(client, user).post("/competitions/new/", form_data(tasks=50))
    assert response.status_code == 302
    assert Competition.objects.get().tasks.count() == 50


def test_a_prize_beyond_the_credits_is_a_402_form_error(client, user):
    response = signed_in(client, user).post("/competitions/new/", form_data(prize="5000.00"))
    assert response.status_code == 402
    assert "The prize needs 5000.00 available credits." in html(response)
    assert "See your wallet" in html(response)
    assert not Competition.objects.exists()
    assert Wallet.objects.get(user=user).balance == Decimal("1000.00")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"entry_fee": "abc"}, "Enter a number."),
        ({"prize": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"title": ""}, "This field is required."),
        ({"closes_at": "tomorrow"}, "Enter a valid date/time."),
        ({"tasks-0-expected": ""}, "This field is required."),
        ({"tasks-0-grader": "regex"}, "Select a valid choice."),
        ({"tasks-TOTAL_FORMS": "x"}, "ManagementForm data is missing or has been tampered with"),
        ({"tasks-TOTAL_FORMS": "1000"}, "Please submit at most 50 forms."),
    ],
)
def test_bad_input_is_a_form_error_never_a_500(client, user, changes, error):
    response = signed_in(client, user).post("/competitions/new/", form_data(**changes))
    assert response.status_code == 422
    assert error in html(response)
    assert not Competition.objects.exists()


# --- a competition's page ---------------------------------------------------------------------


def test_unknown_competition_is_a_404(client, user):
    assert signed_in(client, user).get("/competitions/999999/").status_code == 404


def test_the_open_page_shows_rules_pool_entries_and_countdown(
    client, competition, organizer, entrant, user
):
    enter(competition, entrant, name="Solver")
    for viewer in (organizer, entrant, user):
        response = signed_in(client, viewer).get(f"/competitions/{competition.pk}/")
        text = html(response)
        assert response.status_code == 200
        assert "110.00 credits" in text  # the pool
        assert "50%, 30% and 20%" in text and "10%" in text  # the payout rule, the fee
        assert "Solver" in text and "entrant" in text  # the entries: agent, owner
        assert 'data-ends-at="' in text and "2 hidden tasks" in text
        assert 'hx-trigger="every 30s"' in text  # closes in 10 minutes: slow polling
        assert_no_task_text(text)
    organizer_page = html(signed_in(client, organizer).get(f"/competitions/{competition.pk}/"))
    assert f"/competitions/{competition.pk}/cancel/" in organizer_page
    assert f"/competitions/{competition.pk}/tasks/" in organizer_page
    assert "you cannot enter it" in organizer_page
    stranger_page = html(signed_in(client, user).get(f"/competitions/{competition.pk}/"))
    assert f"/competitions/{competition.pk}/cancel/" not in stranger_page
    assert f"/competitions/{competition.pk}/tasks/" not in stranger_page


def test_entries_come_a_page_at_a_time_with_a_constant_number_of_queries(
    client, competition, entrant, user
):
    from competitions.views import ENTRY_PAGE_SIZE

    enter(competition, entrant, name="Mine")
    signed_in(client, entrant)
    url = f"/competitions/{competition.pk}/"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(ENTRY_PAGE_SIZE + 2):
        enter(competition, UserFactory(), name=f"Rival {n:02}")
    with CaptureQueriesContext(connection) as many:
        first = html(client.get(url))
    assert len(many) == len(few)
    assert f'<dd class="mono" id="entries-count">{ENTRY_PAGE_SIZE + 3}</dd>' in first
    assert "Mine" in first and "Rival 48" in first and "Rival 49" not in first
    assert "page 1 of 2" in first
    second = html(client.get(url + "?page=2"))
    assert "Rival 49" in second and "Rival 51" in second and "Rival 48" not in second
    # The pool counts every entry's fee, not the page's.
    assert f"{100 + 10 * (ENTRY_PAGE_SIZE + 3)}.00 credits" in second


def test_the_enter_form_offers_only_my_running_agents_not_yet_in(client, competition, entrant):
    enter(competition, entrant, name="Already in")
    AgentFactory(owner=entrant, name="Ready")
    AgentFactory(owner=entrant, name="Sleeping", state="stopped")
    AgentFactory(name="Not mine")
    text = html(signed_in(client, entrant).get(f"/competitions/{competition.pk}/"))
    select = text[text.index('<select name="agent"') : text.index("</select>")]
    assert "Ready" in select
    assert "Already in" not in select and "Sleeping" not in select and "Not mine" not in select
    assert "10.00 credits, into the pool" in text


def test_without_a_running_agent_the_page_says_so(client, competition, user):
    text = html(signed_in(client, user).get(f"/competitions/{competition.pk}/"))
    assert 'id="no-agent-to-enter"' in text


def test_judging_shows_progress_and_my_tasks_by_number_only(
    client, competition, organizer, entrant, user
):
    enter(competition, entrant)
    enter(competition, UserFactory())
    close(competition)
    Evaluation.objects.filter(competition=competition, task__position=1).update(status="passed")
    text = html(signed_in(client, entrant).get(f"/competitions/{competition.pk}/"))
    assert "2 of 4 task runs graded (50%)" in text
    assert 'role="progressbar"' in text and 'hx-trigger="every 2s"' in text
    assert "Task 1: <span" in text and "Task 2: <span" in text
    assert 'id="enter-panel"' not in text
    assert_no_task_text(text)
    # Someone who did not enter sees the progress, not anyone's task results.
    other = html(signed_in(client, user).get(f"/competitions/{competition.pk}/"))
    assert "2 of 4 task runs graded" in other and "Task 1:" not in other
    assert_no_task_text(other)


def test_the_poll_returns_the_live_part_or_reloads_on_a_new_status(client, competition, user):
    client = signed_in(client, user)
    url = f"/competitions/{competition.pk}/"
    live = {**HTMX, "HX-Target": "competition-live"}
    response = client.get(url, {"seen": "open"}, headers=live)
    assert response.status_code == 200
    assert html(response).lstrip().startswith('<section id="competition-live"')
    close(competition)
    response = client.get(url, {"seen": "open"}, headers=live)
    assert response["HX-Refresh"] == "true"
    response = client.get(url, {"seen": "judging"}, headers=live)
    assert "task runs graded" in html(response)


def test_the_finished_page_shows_the_final_table(client, competition, organizer, entrant, user):
    winner = enter(competition, entrant, name="Winner")
    loser_owner = UserFactory(username="loser")
    enter(competition, loser_owner, name="Loser")
    finish(competition, passed_agent_ids=[winner.pk])
    assert competition.status == "finished"
    for viewer in (organizer, entrant, loser_owner, user):
        text = html(signed_in(client, viewer).get(f"/competitions/{competition.pk}/"))
        table = text[text.index('id="results-table"') : text.index("</table>")]
        # Pool 120, fee 12: rank 1 takes 108.
        assert "Winner" in table and "108.00" in table and "2 / 2" in table
        assert "3.0 s" in table  # two runs of 1.5 s
        assert "Loser" in table and "0 / 2" in table
        assert "hx-trigger" not in text  # nothing polls any more
        assert_no_task_text(text)
    mine = html(signed_in(client, entrant).get(f"/competitions/{competition.pk}/"))
    assert "Task 1: <span" in mine and ">passed<" in mine
    theirs = html(signed_in(client, loser_owner).get(f"/competitions/{competition.pk}/"))
    assert ">failed<" in theirs and ">passed<" not in theirs
    stranger = html(signed_in(client, user).get(f"/competitions/{competition.pk}/"))
    assert "Task 1:" not in stranger


def test_a_competition_nobody_solved_is_cancelled_and_says_refunded(client, competition, entrant):
    enter(competition, entrant)
    finish(competition)
    assert competition.status == "cancelled"
    text = html(signed_in(client, entrant).get(f"/competitions/{competition.pk}/"))
    assert "every entry fee were refunded" in text
    assert_no_task_text(text)
    assert_money_conserved()


# --- entering ---------------------------------------------------------------------------------


def test_the_confirmation_states_the_fee(client, competition, entrant):
    agent = AgentFactory(owner=entrant, name="Solver")
    response = signed_in(client, entrant).get(
        f"/competitions/{competition.pk}/enter/", {"agent": agent.pk}
    )
    text = html(response)
    assert response.status_code == 200
    assert "The fee moves from your available credits into the pool now." in text
    assert "Confirm: enter for 10.00 credits" in text
    assert "990.00" in text  # available after
    assert_no_task_text(text)


def test_entering_takes_the_fee_and_says_so(client, competition, entrant):
    agent = AgentFactory(owner=entrant, name="Solver")
    client = signed_in(client, entrant)
    response = client.post(f"/competitions/{competition.pk}/enter/", {"agent": agent.pk})
    assert response.status_code == 302
    assert response["Location"] == f"/competitions/{competition.pk}/"
    assert competition.entries.get().agent == agent
    assert Wallet.objects.get(user=entrant).balance == Decimal("990.00")
    text = html(client.get(response["Location"]))
    assert "“Solver” entered “Quiz” for 10.00 credits." in text
    # Twice: the service's 409 becomes a message.
    response = client.post(
        f"/competitions/{competition.pk}/enter/", {"agent": agent.pk}, follow=True
    )
    assert "has already entered this competition" in html(response)
    assert competition.entries.count() == 1
    assert_money_conserved()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("stopped", "is stopped, not running. Start it first."),
        ("poor", "The entry fee needs 10.00 available credits."),
        ("closed", "This competition is closed to new entries."),
    ],
)
def test_refused_entries_become_messages(client, competition, entrant, setup, message):
    agent = AgentFactory(owner=entrant, state="stopped" if setup == "stopped" else "running")
    if setup == "poor":
        Wallet.objects.filter(user=entrant).update(balance=Decimal("5.00"))
    if setup == "closed":
        Competition.objects.filter(pk=competition.pk).update(status="cancelled")
    response = signed_in(client, entrant).post(
        f"/competitions/{competition.pk}/enter/", {"agent": agent.pk}, follow=True
    )
    assert response.status_code == 200
    assert message in html(response)
    assert not competition.entries.exists()


def test_the_organizer_cannot_enter(client, competition, organizer):
    agent = AgentFactory(owner=organizer)
    response = signed_in(client, organizer).post(
        f"/competitions/{competition.pk}/enter/", {"agent": agent.pk}, follow=True
    )
    assert "The organizer cannot enter their own competition." in html(response)


def test_someone_elses_agent_is_a_404(client, competition, entrant):
    agent = AgentFactory(name="Theirs")
    response = signed_in(client, entrant).post(
        f"/competitions/{competition.pk}/enter/", {"agent": agent.pk}
    )
    assert response.status_code == 404
    assert not competition.entries.exists()


@pytest.mark.parametrize("agent", ["", "abc", "-1", "99999999999999999999999"])
def test_a_bad_agent_value_is_a_message(client, competition, entrant, agent):
    response = signed_in(client, entrant).post(
        f"/competitions/{competition.pk}/enter/", {"agent": agent}, follow=True
    )
    assert response.status_code == 200
    assert "Pick one of your running agents to enter." in html(response)


def test_entering_goes_back_to_a_safe_next_only(client, competition, entrant):
    client = signed_in(client, entrant)
    agent = AgentFactory(owner=entrant)
    url = f"/competitions/{competition.pk}/enter/"
    page = f"/dashboard/agents/{agent.pk}/"
    response = client.post(url, {"agent": agent.pk, "next": page})
    assert response["Location"] == page
    other = AgentFactory(owner=entrant)
    response = client.post(url, {"agent": other.pk, "next": "https://evil.example/"})
    assert response["Location"] == f"/competitions/{competition.pk}/"


def test_entering_needs_a_sign_in_and_csrf(client, competition, entrant):
    agent = AgentFactory(owner=entrant)
    url = f"/competitions/{competition.pk}/enter/"
    assert client.post(url, {"agent": agent.pk}).status_code == 302  # to log in
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(entrant)
    assert strict.post(url, {"agent": agent.pk}).status_code == 403
    assert not competition.entries.exists()


# --- cancelling -------------------------------------------------------------------------------


def test_cancel_asks_first_and_states_the_refunds(client, competition, organizer, entrant):
    enter(competition, entrant)
    response = signed_in(client, organizer).get(f"/competitions/{competition.pk}/cancel/")
    text = html(response)
    assert response.status_code == 200
    assert 'Your prize of <span class="mono">100.00</span> credits comes back' in text
    assert "Each of the 1 entry gets its fee back" in text
    assert Competition.objects.get(pk=competition.pk).status == "open"


def test_only_the_organizer_may_cancel(client, competition, entrant):
    client = signed_in(client, entrant)
    assert client.get(f"/competitions/{competition.pk}/cancel/").status_code == 403
    assert client.post(f"/competitions/{competition.pk}/cancel/").status_code == 403
    assert Competition.objects.get(pk=competition.pk).status == "open"


def test_cancelling_refunds_everything(client, competition, organizer, entrant):
    enter(competition, entrant)
    client = signed_in(client, organizer)
    response = client.post(f"/competitions/{competition.pk}/cancel/", follow=True)
    assert "the prize and every entry fee were refunded" in html(response)
    assert Competition.objects.get(pk=competition.pk).status == "cancelled"
    assert Wallet.objects.get(user=organizer).balance == Decimal("1000.00")
    assert Wallet.objects.get(user=entrant).balance == Decimal("1000.00")
    assert_money_conserved()
    # Again: the service's 409 becomes a message; the confirmation says it is too late.
    response = client.post(f"/competitions/{competition.pk}/cancel/", follow=True)
    assert "it can no longer be cancelled" in html(response)
    text = html(client.get(f"/competitions/{competition.pk}/cancel/"))
    assert 'id="cancel-refused"' in text and 'id="confirm-cancel"' not in text


# --- the organizer's tasks page ---------------------------------------------------------------


def test_the_tasks_page_is_the_organizers_alone(client, competition, entrant, user):
    enter(competition, entrant)
    for viewer in (entrant, user):
        response = signed_in(client, viewer).get(f"/competitions/{competition.pk}/tasks/")
        assert response.status_code == 403
        assert_no_task_text(html(response))
    assert client.get("/competitions/999999/tasks/").status_code == 404


def test_the_tasks_page_shows_tasks_and_the_matrix(client, competition, organizer, entrant):
    client = signed_in(client, organizer)
    text = html(client.get(f"/competitions/{competition.pk}/tasks/"))
    assert f"{SECRET} one" in text and f"{EXPECTED} two" in text and "contains" in text
    assert "No entries yet" in text
    agent = enter(competition, entrant, name="Solver")
    assert 'id="not-judged"' in html(client.get(f"/competitions/{competition.pk}/tasks/"))
    close(competition)
    Evaluation.objects.filter(task__position=1).update(status="running")
    text = html(client.get(f"/competitions/{competition.pk}/tasks/"))
    matrix = text[text.index('id="matrix-table"') :]
    assert "Solver" in matrix and ">running<" in matrix and ">pending<" in matrix
    assert 'hx-trigger="every 2s"' in text
    finish_evaluations = Evaluation.objects.filter(competition=competition)
    finish_evaluations.update(status="passed", duration_ms=2500)
    judging.competitions_settle_ready()
    text = html(client.get(f"/competitions/{competition.pk}/tasks/"))
    matrix = text[text.index('id="matrix-table"') :]
    assert ">passed<" in matrix and "2.5 s" in matrix and "1 / 1" in matrix
    assert "hx-trigger" not in text
    assert agent.pk


def test_the_tasks_poll_returns_the_matrix_or_reloads(client, competition, organizer, entrant):
    enter(competition, entrant)
    close(competition)
    client = signed_in(client, organizer)
    url = f"/competitions/{competition.pk}/tasks/"
    headers = {**HTMX, "HX-Target": "task-matrix"}
    response = client.get(url, {"seen": "judging"}, headers=headers)
    assert html(response).lstrip().startswith('<section id="task-matrix"')
    assert client.get(url, {"seen": "open"}, headers=headers)["HX-Refresh"] == "true"


# --- the agent page's panel -------------------------------------------------------------------


def test_the_agent_page_offers_open_competitions_to_its_owner(
    client, competition, make_competition, entrant, organizer
):
    agent = AgentFactory(owner=entrant, name="Solver")
    other = make_competition(organizer)
    Competition.objects.filter(pk=other.pk).update(title="Entered cup")
    competition_enter(competition=other, agent=agent, by=entrant)
    text = html(signed_in(client, entrant).get(f"/dashboard/agents/{agent.pk}/"))
    panel = text[text.index('id="competitions-panel"') :]
    panel = panel[: panel.index("</section>")]
    assert f"/competitions/{competition.pk}/enter/?agent={agent.pk}&amp;next=" in panel
    assert "Entered cup" not in panel  # already in it
    assert_no_task_text(panel)


def test_the_panel_hides_from_others_and_without_open_competitions(
    client, competition, make_competition, entrant, organizer, user
):
    # The organizer's own agent: their competition is not offered, so nothing is.
    mine = AgentFactory(owner=organizer)
    text = html(signed_in(client, organizer).get(f"/dashboard/agents/{mine.pk}/"))
    assert 'id="competitions-panel"' not in text
    # A public agent seen by someone else: not theirs to enter.
    public = AgentFactory(owner=entrant, visibility="public")
    text = html(signed_in(client, user).get(f"/dashboard/agents/{public.pk}/"))
    assert 'id="competitions-panel"' not in text
    # A stopped agent: listed, without Enter buttons.
    stopped = AgentFactory(owner=entrant, state="stopped")
    text = html(signed_in(client, entrant).get(f"/dashboard/agents/{stopped.pk}/"))
    assert 'id="competitions-panel"' in text and "Start it to enter one." in text
    assert "/enter/?agent=" not in text


def test_the_confirmation_warns_before_a_refusal(client, competition, organizer, entrant):
    stopped = AgentFactory(owner=entrant, state="stopped", name="Sleepy")
    url = f"/competitions/{competition.pk}/enter/"
    text = html(signed_in(client, entrant).get(url, {"agent": stopped.pk}))
    assert "is stopped; only a running agent can enter" in text and "confirm-entry" not in text
    Wallet.objects.filter(user=entrant).update(balance=Decimal("5.00"))
    ready = AgentFactory(owner=entrant)
    text = html(client.get(url, {"agent": ready.pk}))
    assert "Not enough credits" in text and "confirm-entry" not in text
    own = AgentFactory(owner=organizer)
    text = html(signed_in(client, organizer).get(url, {"agent": own.pk}))
    assert "cannot enter their own competition" in text and "confirm-entry" not in text
