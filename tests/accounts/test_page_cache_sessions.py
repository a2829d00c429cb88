"""A kept page (core.pagecache) is served to a signed-in user without authenticating the
request again: the fingerprint holds the session's row and the user's. Whatever would change
Django's answer to "who is this?" (log-out, expiry, a new password, deactivation, a forged
cookie) sends the request through authentication again. PostgreSQL only (pages are kept
there alone)."""

import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from tests.factories import AgentFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row versions are PostgreSQL's"),
]

DASHBOARD = "/dashboard/"


def kept(client, url=DASHBOARD):
    """GET `url` until a response comes from the cache (the minute is in the key: at most
    twice more if it turns); returns it."""
    for _ in range(3):
        minute = time.time() // 60
        client.get(url)
        response = client.get(url)
        if time.time() // 60 == minute:
            break
    assert response.status_code == 200
    assert getattr(response, "page_cache", None) == "hit"
    return response


def session_of(client) -> Client:
    """A second browser holding the same session cookie (as a stolen or copied cookie would)."""
    twin = Client()
    twin.cookies["sessionid"] = client.cookies["sessionid"].value
    return twin


def redirected_to_login(response) -> bool:
    return response.status_code == 302 and response.url.startswith(reverse("accounts:login"))


@pytest.fixture
def signed_in(client, user):
    AgentFactory(owner=user, name="Kept Agent")
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", ["dashboard", "agent", "achievements", "tools"])
def test_a_kept_page_costs_one_query(signed_in, user, page, django_assert_num_queries):
    url = {
        "dashboard": DASHBOARD,
        "agent": reverse("agents:agent_detail", args=[user.agents.get().pk]),
        "achievements": reverse("gamification:achievement_list"),
        "tools": reverse("tools_registry:tool_list"),
    }[page]
    kept(signed_in, url)
    with django_assert_num_queries(1):  # the fingerprint: no session, no user query
        response = signed_in.get(url)
    assert response.page_cache == "hit"
    assert user.username in response.content.decode()


def test_after_logging_out_the_session_cookie_opens_nothing(signed_in):
    kept(signed_in)
    copy = session_of(signed_in)
    assert copy.get(DASHBOARD).page_cache == "hit"
    signed_in.post(reverse("accounts:logout"))
    assert redirected_to_login(copy.get(DASHBOARD))


def test_an_expired_session_opens_nothing(signed_in):
    kept(signed_in)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert redirected_to_login(signed_in.get(DASHBOARD))


def test_a_new_password_signs_out_the_other_sessions(signed_in, user):
    copy = session_of(signed_in)
    kept(copy)
    user.set_password("a-brand-new-password-42")
    user.save()
    assert redirected_to_login(copy.get(DASHBOARD))
    # Signed in again with the new password: kept pages for the new session only.
    fresh = Client()
    fresh.force_login(user)
    kept(fresh)
    assert redirected_to_login(signed_in.get(DASHBOARD))


def test_a_deactivated_account_opens_nothing(signed_in, user):
    kept(signed_in)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert redirected_to_login(signed_in.get(DASHBOARD))


def test_a_forged_session_cookie_opens_nothing(signed_in):
    kept(signed_in)
    forged = Client()
    forged.cookies["sessionid"] = "x" * 32
    assert redirected_to_login(forged.get(DASHBOARD))


def test_each_user_gets_their_own_kept_page(signed_in, other_user):
    AgentFactory(owner=other_user, name="Another Owners Agent")
    other = Client()
    other.force_login(other_user)
    mine, theirs = kept(signed_in).content.decode(), kept(other).content.decode()
    assert "Kept Agent" in mine and "Another Owners Agent" not in mine
    assert "Another Owners Agent" in theirs and "Kept Agent" not in theirs


def test_the_api_serves_the_tokens_user_whatever_session_comes_with_it(
    signed_in, make_api_client, other_user
):
    AgentFactory(owner=other_user, name="Token Owners Agent")
    kept(signed_in)
    api = make_api_client(other_user)
    api.client.cookies["sessionid"] = signed_in.cookies["sessionid"].value
    for _ in range(2):
        names = [item["name"] for item in api.get("/api/v1/agents").json()["items"]]
        assert names == ["Token Owners Agent"]
