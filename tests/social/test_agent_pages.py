"""The agent's own pages for collaborators and public agents: an editor gets the edit, start,
stop and health controls (never delete), a `user` collaborator none; the owner makes an agent
public from the editor, and an editor cannot."""

import pytest
from django.test import Client

from agents import services as agents
from agents.models import Agent
from agents.validation import AgentConfig
from social.services import collaborator_set
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def agent(owner):
    return agents.agent_create(owner=owner, config=AgentConfig(name="Shared", model="openai:x"))


def collaborator(agent, owner, role):
    user = UserFactory()
    collaborator_set(agent=agent, by=owner, username=user.username, role=role)
    return user


def controls(response) -> dict[str, bool]:
    html = response.content.decode()
    pk = response.context["agent"].pk
    return {
        "edit": f"/dashboard/agents/{pk}/edit/" in html,
        "start": f"/dashboard/agents/{pk}/start/" in html,
        "health": f"/dashboard/agents/{pk}/health/" in html,
        "delete": f"/dashboard/agents/{pk}/delete/" in html,
    }


def test_an_editor_gets_every_control_but_delete(agent, owner):
    editor = collaborator(agent, owner, "editor")
    response = signed_in(editor).get(f"/dashboard/agents/{agent.pk}/")
    assert response.status_code == 200
    assert controls(response) == {"edit": True, "start": True, "health": True, "delete": False}
    assert signed_in(editor).get(f"/dashboard/agents/{agent.pk}/health/").status_code == 200


def test_a_user_collaborator_gets_no_controls(agent, owner):
    user = collaborator(agent, owner, "user")
    response = signed_in(user).get(f"/dashboard/agents/{agent.pk}/")
    assert response.status_code == 200
    assert not any(controls(response).values())


def test_the_owner_gets_every_control(agent, owner):
    response = signed_in(owner).get(f"/dashboard/agents/{agent.pk}/")
    assert all(controls(response).values())


def test_the_owner_makes_an_agent_public_from_the_editor(owner):
    response = signed_in(owner).post(
        "/dashboard/agents/new/",
        {"name": "Open", "model": "openai:x", "metadata": "{}", "visibility": "public"},
    )
    assert response.status_code == 302
    assert Agent.objects.get(owner=owner, name="Open").visibility == "public"


def test_an_editor_cannot_change_the_visibility(agent, owner):
    editor = collaborator(agent, owner, "editor")
    client = signed_in(editor)
    page = client.get(f"/dashboard/agents/{agent.pk}/edit/")
    assert page.status_code == 200 and page.context["form"].fields["visibility"].disabled

    response = client.post(
        f"/dashboard/agents/{agent.pk}/edit/",
        {"name": "Renamed", "model": "openai:x", "metadata": "{}", "visibility": "public"},
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert (agent.name, agent.visibility) == ("Renamed", "private")


def test_a_form_post_without_visibility_keeps_it(agent, owner):
    agent.visibility = "public"
    agent.save(update_fields=["visibility"])
    response = signed_in(owner).post(
        f"/dashboard/agents/{agent.pk}/edit/",
        {"name": "Still open", "model": "openai:x", "metadata": "{}"},
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.visibility == "public"


def test_the_dashboard_shows_what_followed_users_did(owner):
    from social.services import follow

    reader = UserFactory()
    follow(follower=reader, username=owner.username)
    agents.agent_create(
        owner=owner, config=AgentConfig(name="Published", model="openai:x"), visibility="public"
    )

    response = signed_in(reader).get("/dashboard/")

    assert response.status_code == 200
    feed = response.content.decode().split('id="dashboard-feed"')[1]
    assert owner.username in feed and "/feed/" in feed


def test_the_dashboard_feed_has_an_empty_state(owner):
    response = signed_in(owner).get("/dashboard/")
    assert b"From people you follow" in response.content
    assert b"Nothing yet." in response.content


def test_a_shared_agent_is_on_the_collaborators_dashboard_marked_shared(agent, owner):
    user = collaborator(agent, owner, "user")

    html = signed_in(user).get("/dashboard/").content.decode()

    row = html.split(f'id="agent-{agent.pk}"')[1].split("</tr>")[0]
    assert "Shared" in row and 'class="badge">shared<' in row and "rented" not in row


def test_the_agent_page_lists_its_public_forks_only(agent, owner):
    from agents.services import agent_fork

    agent.visibility = "public"
    agent.save(update_fields=["visibility"])
    public = agent_fork(agent=agent, by=UserFactory(), name="Open fork")
    public.visibility = "public"
    public.save(update_fields=["visibility"])
    agent_fork(agent=agent, by=UserFactory(), name="Quiet fork")

    html = signed_in(UserFactory()).get(f"/dashboard/agents/{agent.pk}/").content.decode()

    assert "2 forks" in html
    assert "Open fork" in html and "Quiet fork" not in html
