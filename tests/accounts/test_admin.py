import pytest

from accounts.services import token_create
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def test_admin_lists_and_searches_users(admin_client, user):
    response = admin_client.get("/admin/accounts/user/", {"q": user.username})

    assert response.status_code == 200
    assert user.username.encode() in response.content


def test_admin_lists_tokens_without_the_secret(admin_client, user):
    token, raw = token_create(user=user, name="admin-visible")

    listing = admin_client.get("/admin/accounts/apitoken/", {"q": "admin-visible"})
    detail = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/")

    assert b"admin-visible" in listing.content
    assert detail.status_code == 200
    assert raw.encode() not in detail.content


def test_admin_cannot_add_tokens(admin_client):
    assert admin_client.get("/admin/accounts/apitoken/add/").status_code == 403


def test_members_are_kept_out_of_admin(user_client):
    assert user_client.get("/admin/").status_code == 302


ADMIN_LOGIN = "/admin/login/"


def admin_login(client, username, password, **extra):
    return client.post(
        ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra
    )


def test_admin_login_works(client, staff_user):
    response = admin_login(client, staff_user.username, TEST_PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_is_rate_limited_like_the_site(client, staff_user, settings):
    settings.AUTH_FAILURE_RATE = "5/m"
    statuses = [admin_login(client, staff_user.username, "wrong").status_code for _ in range(8)]

    assert statuses == [200] * 5 + [429] * 3
    blocked = admin_login(client, staff_user.username, TEST_PASSWORD)
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert b"Too many failed attempts" in blocked.content
    assert "_auth_user_id" not in client.session


def test_admin_and_site_log_ins_share_the_counters(client, staff_user, settings):
    settings.AUTH_FAILURE_RATE = "3/m"
    for _ in range(3):
        client.post("/account/login/", {"username": staff_user.username, "password": "nope"})

    assert admin_login(client, staff_user.username, TEST_PASSWORD).status_code == 429


def test_a_members_right_password_is_a_failed_admin_login(client, user, settings):
    settings.AUTH_FAILURE_RATE = "2/m"
    for _ in range(2):
        assert admin_login(client, user.username, TEST_PASSWORD).status_code == 200

    assert admin_login(client, user.username, TEST_PASSWORD).status_code == 429


def test_admin_login_blocks_one_username_not_the_address(client, staff_user, settings):
    settings.AUTH_FAILURE_RATE = "2/m"
    for _ in range(2):
        admin_login(client, "root", "guess")

    assert admin_login(client, "root", "guess").status_code == 429
    assert admin_login(client, staff_user.username, TEST_PASSWORD).status_code == 302
