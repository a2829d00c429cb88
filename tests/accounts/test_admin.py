import pytest

from accounts.services import token_create

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
