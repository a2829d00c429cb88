import pytest

from accounts.models import ApiToken, hash_token
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
    assert response.json() == {"detail": "Invalid username or password."}


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
