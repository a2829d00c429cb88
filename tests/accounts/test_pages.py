from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import token_create
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db
User = get_user_model()


def test_signup_creates_user_and_logs_in(client):
    response = client.post(
        "/account/signup/",
        {
            "username": "newbie",
            "email": "",
            "password1": "a-long pass 123",
            "password2": "a-long pass 123",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    assert User.objects.filter(username="newbie").exists()
    assert client.get("/dashboard/").status_code == 200


def test_signup_shows_field_errors(client):
    response = client.post(
        "/account/signup/", {"username": "", "email": "nope", "password1": "a", "password2": "b"}
    )

    assert response.status_code == 422
    assert b"This field is required." in response.content
    assert b"Enter a valid email address." in response.content
    assert not User.objects.exists()


def test_signup_refuses_duplicate_username(client, user):
    response = client.post(
        "/account/signup/",
        {"username": user.username, "password1": "a-long pass 123", "password2": "a-long pass 123"},
    )

    assert response.status_code == 422
    assert b"already exists" in response.content


def test_signup_is_rate_limited_per_address(client, settings):
    settings.SIGNUP_RATE = "2/h"
    for n in range(2):
        client.post("/account/signup/", {"username": f"u{n}"})

    response = client.post("/account/signup/", {"username": "u3"})

    assert response.status_code == 429
    assert b"Too many sign-ups" in response.content
    assert 1 <= int(response["Retry-After"]) <= 3600


def test_login_and_logout(client, user):
    response = client.post(
        "/account/login/", {"username": user.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"

    response = client.post("/account/logout/")
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 302


def test_login_with_wrong_password_shows_error(client, user):
    response = client.post("/account/login/", {"username": user.username, "password": "nope"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_login_is_rate_limited_after_repeated_failures(client, user, settings):
    settings.AUTH_FAILURE_RATE = "3/m"
    for _ in range(3):
        client.post("/account/login/", {"username": user.username, "password": "nope"})

    response = client.post(
        "/account/login/", {"username": user.username, "password": TEST_PASSWORD}
    )

    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert 1 <= int(response["Retry-After"]) <= 60


def test_one_users_failures_do_not_lock_out_their_address(client, user, other_user, settings):
    settings.AUTH_FAILURE_RATE = "3/m"
    for _ in range(3):
        client.post("/account/login/", {"username": user.username, "password": "nope"})

    response = client.post(
        "/account/login/", {"username": other_user.username, "password": TEST_PASSWORD}
    )

    assert response.status_code == 302


def test_logout_requires_post(user_client):
    assert user_client.get("/account/logout/").status_code == 405


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/",
        "/tools/",
        "/leaderboard/",
        "/marketplace/wallet/",
        "/account/",
        "/account/tokens/",
        "/account/password/",
    ],
)
def test_pages_require_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/account/login/?next=")


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("/dashboard/", b"No agents yet"),
        ("/marketplace/", b"Nothing for sale or rent yet"),
        ("/tools/", b"No tools registered yet"),
        ("/leaderboard/", b"No ranked agents yet"),
        ("/marketplace/wallet/", b"No wallet activity yet"),
        ("/account/", b"Joined"),
    ],
)
def test_pages_render_with_navigation(user_client, url, text):
    response = user_client.get(url)

    assert response.status_code == 200
    assert text in response.content
    for nav in (b"Dashboard", b"Marketplace", b"Tools", b"Leaderboard", b"Wallet", b"Competitions"):
        assert nav in response.content
    assert b'aria-current="page"' in response.content


def test_home_shows_landing_to_visitors_and_redirects_members(client, user):
    assert b"Sign up" in client.get("/").content
    client.force_login(user)
    assert client.get("/")["Location"] == "/dashboard/"


def test_token_page_creates_token_and_shows_it_once(user_client, user):
    response = user_client.post("/account/tokens/", {"name": "laptop"}, follow=True)

    assert response.redirect_chain == [("/account/tokens/", 302)]
    raw = response.context["new_token"]["raw"]
    assert raw.encode() in response.content
    token = ApiToken.objects.get(user=user)
    assert token.name == "laptop"

    again = user_client.get("/account/tokens/")
    assert b"laptop" in again.content
    assert raw.encode() not in again.content
    assert raw not in str(dict(user_client.session))


def test_token_page_requires_a_name(user_client):
    response = user_client.post("/account/tokens/", {"name": ""})

    assert response.status_code == 422
    assert b"This field is required." in response.content
    assert not ApiToken.objects.exists()


def test_token_page_lists_only_own_tokens(user_client, other_user):
    token_create(user=other_user, name="someone else's")

    response = user_client.get("/account/tokens/")

    assert b"someone else" not in response.content
    assert b"No tokens yet" in response.content


def test_revoke_asks_for_confirmation_then_revokes(user_client, user):
    token, _raw = token_create(user=user, name="old")
    url = f"/account/tokens/{token.pk}/revoke/"

    confirm = user_client.get(url)
    assert confirm.status_code == 200
    assert b"cannot be undone" in confirm.content
    assert ApiToken.objects.filter(pk=token.pk).exists()

    response = user_client.post(url)
    assert response.status_code == 302
    assert not ApiToken.objects.filter(pk=token.pk).exists()


def test_stranger_cannot_revoke_someone_elses_token(user_client, other_user):
    token, _raw = token_create(user=other_user, name="theirs")

    assert user_client.get(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert user_client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_token_names_are_escaped(user_client):
    response = user_client.post(
        "/account/tokens/", {"name": "<script>alert(1)</script>"}, follow=True
    )

    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;" in response.content


def test_password_change(user_client, user):
    response = user_client.post(
        "/account/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "brand new pass 42",
            "new_password2": "brand new pass 42",
        },
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand new pass 42")


def test_styleguide_only_in_debug(client, settings):
    assert client.get("/styleguide/").status_code == 404
    settings.DEBUG = True
    response = client.get("/styleguide/")
    assert response.status_code == 200
    assert b"Form with errors" in response.content


def test_token_page_creates_a_token_with_an_expiry(user_client, user):
    response = user_client.post(
        "/account/tokens/", {"name": "ci", "expires_in_days": "30"}, follow=True
    )

    token = ApiToken.objects.get(user=user)
    assert token.expires_at is not None
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert token.expires_at.strftime("%Y-%m-%d").encode() in response.content


@pytest.mark.parametrize("days", ["0", "366", "soon"])
def test_token_page_refuses_an_expiry_out_of_range(user_client, days):
    response = user_client.post("/account/tokens/", {"name": "ci", "expires_in_days": days})

    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_token_page_shows_last_use_and_expiry(user_client, user):
    used, _raw = token_create(user=user, name="used")
    expired, _raw = token_create(user=user, name="old", expires_in_days=1)
    ApiToken.objects.filter(pk=used.pk).update(last_used_at=timezone.now())
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))

    content = user_client.get("/account/tokens/").content.decode()

    assert "<th>Last used</th>" in content and "<th>Expires</th>" in content
    assert content.count('<span class="muted">never</span>') == 2  # old: used; used: expires
    assert ">expired</span>" in content
