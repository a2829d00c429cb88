from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from accounts.services import token_create
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/token"


def obtain(client, username, password, **extra):
    return client.post(
        URL, {"username": username, "password": password, **extra}, content_type="application/json"
    )


def test_right_credentials_give_a_token_stored_hashed(client, user):
    response = obtain(client, user.username, TEST_PASSWORD, name="ci")

    assert response.status_code == 201
    raw = response.json()["token"]
    token = ApiToken.objects.get(user=user)
    assert token.name == "ci"
    assert token.token_hash == hash_token(raw)
    assert raw not in {token.token_hash, token.hint}


def test_token_authenticates_api_calls(client, user):
    raw = obtain(client, user.username, TEST_PASSWORD).json()["token"]

    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 200
    assert response.json()["username"] == user.username
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize("password", ["wrong", ""])
def test_wrong_credentials_get_401(client, user, password):
    response = obtain(client, user.username, password)

    assert response.status_code in (401, 422)
    assert "detail" in response.json()
    assert not ApiToken.objects.exists()


def test_unknown_user_gets_401(client, db):
    response = obtain(client, "nobody", "whatever")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid username or password."


def test_inactive_user_gets_401(client):
    user = UserFactory(is_active=False)

    assert obtain(client, user.username, TEST_PASSWORD).status_code == 401


def test_repeated_failures_are_rate_limited_even_with_the_right_password(client, user, settings):
    settings.AUTH_FAILURE_RATE = "3/m"
    for _ in range(3):
        assert obtain(client, user.username, "wrong").status_code == 401

    response = obtain(client, user.username, TEST_PASSWORD)

    assert response.status_code == 429
    assert "Too many failed attempts" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60


def test_failures_for_one_username_do_not_block_others_from_another_address(client, settings):
    settings.AUTH_FAILURE_RATE = "2/m"
    victim, other = UserFactory(), UserFactory()
    for _ in range(2):
        obtain(client, victim.username, "wrong")

    response = client.post(
        URL,
        {"username": other.username, "password": TEST_PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer ab_" + "x" * 43, "Token abc", "Bearer", "Basic dXNlcjpwYXNz"],
)
def test_bad_bearer_tokens_get_401_json(client, db, header):
    response = client.get("/api/v1/auth/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert "detail" in response.json()


def test_no_credentials_get_401_not_a_login_redirect(client, db):
    response = client.get("/api/v1/auth/me")

    assert response.status_code == 401
    assert response.json()["detail"].startswith("Authentication required")


def test_revoked_token_stops_working(client, api_token):
    ApiToken.objects.all().delete()

    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {api_token}"})

    assert response.status_code == 401


def test_token_of_deactivated_user_stops_working(client, user, api_token):
    user.is_active = False
    user.save()

    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {api_token}"})

    assert response.status_code == 401


def test_session_auth_works_for_safe_methods(user_client, user):
    response = user_client.get("/api/v1/auth/me")

    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_failures_for_one_username_do_not_block_others_from_the_same_address(client, settings):
    settings.AUTH_FAILURE_RATE = "2/m"
    victim, colleague = UserFactory(), UserFactory()
    for _ in range(2):
        assert obtain(client, victim.username, "wrong").status_code == 401

    assert obtain(client, victim.username, TEST_PASSWORD).status_code == 429
    assert obtain(client, colleague.username, TEST_PASSWORD).status_code == 201


def test_a_burst_from_one_address_blocks_that_address(client, user, settings):
    settings.AUTH_FAILURE_IP_RATE = "4/m"
    for n in range(4):
        assert obtain(client, f"guess{n}", "wrong").status_code == 401

    blocked = obtain(client, user.username, TEST_PASSWORD)
    elsewhere = client.post(
        URL,
        {"username": user.username, "password": TEST_PASSWORD},
        content_type="application/json",
        REMOTE_ADDR="10.0.0.2",
    )

    assert blocked.status_code == 429
    assert "Retry-After" in blocked
    assert elsewhere.status_code == 201


# --- expiry, list, revoke (docs/API.md, Auth) ---------------------------------------------


def test_token_response_has_its_id_and_no_expiry_by_default(client, user):
    response = obtain(client, user.username, TEST_PASSWORD)

    body = response.json()
    assert response.status_code == 201
    assert body["id"] == ApiToken.objects.get().pk
    assert body["expires_at"] is None


def test_expires_in_days_sets_the_expiry(client, user):
    response = obtain(client, user.username, TEST_PASSWORD, name="ci", expires_in_days=30)

    token = ApiToken.objects.get(pk=response.json()["id"])
    assert response.status_code == 201
    assert token.expires_at is not None
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert response.json()["expires_at"].startswith(token.expires_at.date().isoformat())


@pytest.mark.parametrize("days", [0, -1, 366, "soon"])
def test_expiry_out_of_range_is_422(client, user, days):
    response = obtain(client, user.username, TEST_PASSWORD, expires_in_days=days)

    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_expired_token_gets_401(client, user):
    raw = obtain(client, user.username, TEST_PASSWORD, expires_in_days=1).json()["token"]
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/api/v1/auth/me", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_token_list_shows_own_tokens_without_secrets(api_client, user, other_user):
    token, raw = token_create(user=user, name="laptop", expires_in_days=7)
    token_create(user=other_user, name="not mine")

    response = api_client.get("/api/v1/auth/tokens")

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 2  # the fixture's token and "laptop"
    assert [item["name"] for item in body["items"]] == ["laptop", "tests"]
    assert set(body["items"][0]) == {"id", "name", "created_at", "last_used_at", "expires_at"}
    assert body["items"][0]["id"] == token.pk
    assert body["items"][0]["expires_at"] is not None
    assert body["items"][1]["last_used_at"] is not None  # the token making this call
    assert raw not in response.content.decode()
    assert token.token_hash not in response.content.decode()


def test_token_list_is_paginated(api_client, user, django_assert_max_num_queries):
    for n in range(5):
        token_create(user=user, name=f"t{n}")

    with django_assert_max_num_queries(4):
        response = api_client.get("/api/v1/auth/tokens", {"limit": 2, "offset": 1})

    assert response.json()["count"] == 6
    assert [item["name"] for item in response.json()["items"]] == ["t3", "t2"]


def test_token_list_needs_authentication(client, db):
    assert client.get("/api/v1/auth/tokens").status_code == 401


def test_token_list_works_with_the_session(user_client, user):
    token_create(user=user, name="from the browser")

    response = user_client.get("/api/v1/auth/tokens")

    assert response.status_code == 200
    assert response.json()["items"][0]["name"] == "from the browser"


def test_delete_revokes_at_once(client, api_client, user):
    token, raw = token_create(user=user, name="leaked")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200

    response = api_client.delete(f"/api/v1/auth/tokens/{token.pk}")

    assert response.status_code == 204
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_a_token_may_revoke_itself(api_client):
    own = ApiToken.objects.get()

    assert api_client.delete(f"/api/v1/auth/tokens/{own.pk}").status_code == 204
    assert api_client.get("/api/v1/auth/me").status_code == 401


def test_deleting_someone_elses_token_is_404(api_client, other_user):
    theirs, _raw = token_create(user=other_user, name="theirs")

    response = api_client.delete(f"/api/v1/auth/tokens/{theirs.pk}")

    assert response.status_code == 404
    assert "detail" in response.json()
    assert ApiToken.objects.filter(pk=theirs.pk).exists()
    assert api_client.delete("/api/v1/auth/tokens/999999").status_code == 404


def test_last_used_is_written_at_most_once_a_minute(client, user):
    token, raw = token_create(user=user, name="busy script")
    headers = {"Authorization": f"Bearer {raw}"}
    client.get("/api/v1/auth/me", headers=headers)
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first is not None

    recently = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recently)
    client.get("/api/v1/auth/me", headers=headers)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == recently

    ApiToken.objects.filter(pk=token.pk).update(last_used_at=recently - timedelta(minutes=1))
    client.get("/api/v1/auth/me", headers=headers)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > recently
