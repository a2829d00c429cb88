import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from agents.models import Agent, AgentActivity, Run, RunStep
from agents.services import activity_log
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db

LISTS = {
    "agent": "/admin/agents/agent/",
    "run": "/admin/agents/run/",
    "conversation": "/admin/agents/conversation/",
    "activity": "/admin/agents/agentactivity/",
}


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def make_rows(n: int) -> None:
    for _ in range(n):
        run = RunFactory(conversation__user=UserFactory())
        RunStep.objects.create(run=run, index=0, text="thinking")
        activity_log(agent=run.agent, actor=run.agent.owner, verb=AgentActivity.Verb.STARTED)


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("model", sorted(LISTS))
def test_lists_take_a_constant_number_of_queries(admin_client, model):
    make_rows(2)
    few = queries_for(admin_client, LISTS[model])
    make_rows(6)

    assert queries_for(admin_client, LISTS[model]) == few


def test_lists_show_and_search_rows(admin_client):
    run = RunFactory(conversation__agent__name="Needle agent", message="find the needle")
    activity_log(agent=run.agent, actor=run.user, verb=AgentActivity.Verb.STARTED)
    RunFactory(conversation__agent__name="Haystack agent", message="hay")

    for url in LISTS.values():
        response = admin_client.get(url, {"q": "needle"})
        assert response.status_code == 200
        assert b"Needle agent" in response.content
        assert b"Haystack agent" not in response.content


def test_detail_pages_render(admin_client):
    run = RunFactory()
    activity = activity_log(agent=run.agent, actor=run.user, verb=AgentActivity.Verb.STARTED)

    for url in (
        f"/admin/agents/agent/{run.agent.pk}/change/",
        f"/admin/agents/conversation/{run.conversation.pk}/change/",
        f"/admin/agents/agentactivity/{activity.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert run.agent.name.encode() in response.content


def test_run_page_shows_its_steps_read_only(admin_client):
    run = RunFactory()
    RunStep.objects.create(run=run, index=0, text="I will multiply", code="print(6 * 7)")
    RunStep.objects.create(run=run, index=1, text="done", observation="42")

    response = admin_client.get(f"/admin/agents/run/{run.pk}/change/")

    assert response.status_code == 200
    assert b"I will multiply" in response.content
    assert b"print(6 * 7)" in response.content
    assert b'name="steps-0-text"' not in response.content  # shown, not editable
    assert b"Save" not in response.content


def test_the_record_cannot_be_added_edited_or_deleted(admin_client):
    run = RunFactory(status="succeeded", output="42")
    agent = run.agent

    for model in ("agent", "run", "conversation", "agentactivity"):
        assert admin_client.get(f"/admin/agents/{model}/add/").status_code == 403
    admin_client.post(f"/admin/agents/run/{run.pk}/change/", {"status": "failed"})
    admin_client.post(f"/admin/agents/agent/{agent.pk}/change/", {"name": "renamed"})
    deleted = admin_client.post(f"/admin/agents/agent/{agent.pk}/delete/", {"post": "yes"})

    assert deleted.status_code == 403
    run.refresh_from_db()
    agent.refresh_from_db()
    assert (run.status, agent.name) != ("failed", "renamed")
    assert Agent.objects.filter(pk=agent.pk).exists()


def test_staff_stop_agents_and_their_runs_in_flight(admin_client, staff_user):
    agent = AgentFactory(state="running")
    in_flight = RunFactory(conversation__agent=agent, status="running", output=None)
    other = AgentFactory(state="running")

    response = admin_client.post(
        LISTS["agent"], {"action": "stop_agents", ACTION_CHECKBOX_NAME: [agent.pk]}, follow=True
    )

    assert b"Stopped 1 agent(s)." in response.content
    agent.refresh_from_db()
    other.refresh_from_db()
    in_flight.refresh_from_db()
    assert (agent.state, other.state) == ("stopped", "running")
    assert in_flight.status == "cancelled"
    activity = AgentActivity.objects.get(agent=agent, verb="stopped")
    assert activity.actor == staff_user


def test_staff_cancel_runs_of_any_user(admin_client):
    theirs = RunFactory(conversation__user=UserFactory(), status="running", output=None)
    queued = RunFactory(status="queued", output=None)
    finished = RunFactory(status="succeeded", output="42")

    response = admin_client.post(
        LISTS["run"],
        {"action": "cancel_runs", ACTION_CHECKBOX_NAME: [theirs.pk, queued.pk, finished.pk]},
        follow=True,
    )

    assert b"Cancelled 2 run(s)." in response.content
    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {theirs.pk: "cancelled", queued.pk: "cancelled", finished.pk: "succeeded"}


def test_run_cancel_refuses_a_staff_member_acting_as_a_user():
    from agents.services import run_cancel
    from core.errors import Forbidden

    run = RunFactory(status="running", output=None)
    staff = UserFactory(is_staff=True)

    with pytest.raises(Forbidden):
        run_cancel(run=run, by=staff)  # the API path: no staff=True
    with pytest.raises(Forbidden):
        run_cancel(run=run, by=UserFactory(), staff=True)  # staff=True needs a staff member


def test_staff_who_may_only_view_cannot_stop_or_cancel(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_agent", "view_run"]))
    client.force_login(viewer)
    run = RunFactory(status="running", output=None)

    client.post(LISTS["agent"], {"action": "stop_agents", ACTION_CHECKBOX_NAME: [run.agent.pk]})
    client.post(LISTS["run"], {"action": "cancel_runs", ACTION_CHECKBOX_NAME: [run.pk]})

    assert client.get(LISTS["run"]).status_code == 200
    run.refresh_from_db()
    run.agent.refresh_from_db()
    assert (run.status, run.agent.state) == ("running", "running")


def test_members_are_kept_out(user_client):
    run = RunFactory(status="running", output=None)

    assert user_client.get(LISTS["run"]).status_code == 302
    user_client.post(LISTS["run"], {"action": "cancel_runs", ACTION_CHECKBOX_NAME: [run.pk]})
    run.refresh_from_db()
    assert run.status == "running"
