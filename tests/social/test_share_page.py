"""The public page of a shared run (/s/<token>/): the message, steps, answer and agent
name; never the conversation's other turns, the agent's private configuration, or
anything after revocation."""

import pytest

from agents.models import RunStep
from social.services import share_create, share_revoke
from tests.factories import AgentFactory, RunFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(db):
    user = UserFactory()
    agent = AgentFactory(
        owner=user,
        name="Calculator",
        metadata={"instructions": "SECRET-INSTRUCTIONS"},
        model="openai:secret-model",
    )
    earlier = RunFactory(
        conversation__agent=agent,
        conversation__user=user,
        message="EARLIER-TURN-MESSAGE",
        output="EARLIER-TURN-ANSWER",
    )
    run = RunFactory(
        conversation=earlier.conversation, message="What is 6 times 7?", output="FORTY-TWO"
    )
    RunStep.objects.create(run=run, index=0, text="I multiply.", code="print(6 * 7)")
    later = RunFactory(
        conversation=earlier.conversation,
        message="LATER-TURN-MESSAGE",
        output="LATER-TURN-ANSWER",
    )
    link, _ = share_create(run=run, by=user)
    return user, run, link, (earlier, later)


def test_the_page_shows_the_turn_only(client, shared):
    _user, _run, link, _others = shared
    page = client.get(f"/s/{link.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    for shown in ("What is 6 times 7?", "I multiply.", "print", "FORTY-TWO", "Calculator"):
        assert shown in html
    for hidden in (
        "EARLIER-TURN-MESSAGE",
        "EARLIER-TURN-ANSWER",
        "LATER-TURN-MESSAGE",
        "LATER-TURN-ANSWER",
        "SECRET-INSTRUCTIONS",
        "secret-model",
    ):
        assert hidden not in html
    assert page["X-Robots-Tag"] == "noindex"


def test_the_api_shows_the_turn_only(client, shared):
    _user, run, link, _others = shared
    body = client.get(f"/api/v1/shared/{link.token}").content.decode()
    assert "FORTY-TWO" in body
    for hidden in ("EARLIER-TURN", "LATER-TURN", "SECRET-INSTRUCTIONS", "secret-model"):
        assert hidden not in body


def test_revoked_and_unknown_tokens_are_404(client, shared):
    user, run, link, _others = shared
    share_revoke(run=run, by=user)
    page = client.get(f"/s/{link.token}/")
    assert page.status_code == 404
    assert "FORTY-TWO" not in page.content.decode()
    assert client.get("/s/not-a-token/").status_code == 404


def test_the_page_needs_no_login_and_signed_in_users_see_the_same(client, shared):
    _user, _run, link, _others = shared
    client.force_login(UserFactory())
    assert client.get(f"/s/{link.token}/").status_code == 200
