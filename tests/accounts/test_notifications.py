"""Notifications (issue 15): the notify service, the header's unread count (outside the
cached header fragment), the notifications page (paginated, own only) and mark all read."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Notification
from accounts.services import notifications_mark_read, notify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def count_in_header(html: str) -> int:
    match = re.search(r'id="unread-count">(\d+)<', html)
    return int(match.group(1)) if match else 0


def test_notify_stores_a_notice_and_skips_deleted_users(user):
    notice = notify(user=user, text="You were outbid", url="/marketplace/1/")

    assert notice is not None and notice.user == user and not notice.is_read
    assert notify(user=None, text="nobody") is None
    assert Notification.objects.count() == 1


@pytest.mark.parametrize("url", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_notify_links_only_to_this_site(user, url):
    with pytest.raises(ValueError):
        notify(user=user, text="Click", url=url)


def test_notify_cuts_long_text(user):
    notice = notify(user=user, text="x" * 1000)

    assert notice is not None and len(notice.text) == 300


def test_page_needs_login(client):
    for method, path in [
        ("get", "/account/notifications/"),
        ("post", "/account/notifications/read/"),
    ]:
        response = getattr(client, method)(path)
        assert response.status_code == 302 and response["Location"].startswith("/account/login/")


def test_page_lists_only_my_notifications_newest_first(client, user, other_user):
    notify(user=user, text="first", url="/marketplace/1/")
    notify(user=user, text="second")
    notify(user=other_user, text="not yours")
    client.force_login(user)

    html = client.get("/account/notifications/").content.decode()

    assert html.index("second") < html.index("first")
    assert 'href="/marketplace/1/">first</a>' in html
    assert "not yours" not in html
    assert 'id="mark-all-read"' in html


def test_page_is_paginated(client, user, django_assert_max_num_queries):
    for number in range(30):
        notify(user=user, text=f"notice {number:02d}")
    client.force_login(user)

    with django_assert_max_num_queries(10):
        first = client.get("/account/notifications/").content.decode()
    second = client.get("/account/notifications/", {"page": 2}).content.decode()

    assert "notice 29" in first and "notice 04" not in first and "page 1 of 2" in first
    assert "notice 04" in second and "notice 29" not in second


def test_empty_page(client, user):
    client.force_login(user)

    html = client.get("/account/notifications/").content.decode()

    assert "No notifications yet" in html and 'id="mark-all-read"' not in html


def test_header_counts_unread_notifications_per_request(client, user):
    client.force_login(user)
    assert count_in_header(client.get("/marketplace/").content.decode()) == 0

    notify(user=user, text="one")
    notify(user=user, text="two")
    # The header fragment is cached per user; the count is not part of it.
    assert count_in_header(client.get("/marketplace/").content.decode()) == 2


def test_mark_all_read_clears_the_count_and_redirects(client, user, other_user):
    notify(user=user, text="one")
    notify(user=other_user, text="theirs")
    client.force_login(user)

    response = client.post("/account/notifications/read/")

    assert response.status_code == 302 and response["Location"] == "/account/notifications/"
    assert not Notification.objects.filter(user=user).unread().exists()
    assert Notification.objects.filter(user=other_user).unread().count() == 1
    html = client.get("/account/notifications/").content.decode()
    assert count_in_header(html) == 0 and "Marked 1 notification read." in html


def test_mark_read_service_counts_what_it_marked(user):
    notify(user=user, text="one")
    notify(user=user, text="two")

    assert notifications_mark_read(user=user) == 2
    assert notifications_mark_read(user=user) == 0


def test_visitors_get_no_notifications_link(client):
    html = client.get("/marketplace/").content.decode()

    assert 'id="nav-notifications"' not in html


def test_header_count_costs_no_query(client, user):
    """The header's count is the user row's counter, loaded with the session's user."""
    notify(user=user, text="one")
    client.force_login(user)
    client.get("/account/")  # warm the session and the cached header

    with CaptureQueriesContext(connection) as queries:
        html = client.get("/account/").content.decode()

    assert not [q for q in queries.captured_queries if "accounts_notification" in q["sql"]]
    assert count_in_header(html) == 1


def test_notification_of_another_user_is_never_marked(client, user):
    theirs = notify(user=UserFactory(), text="theirs")
    client.force_login(user)

    client.post("/account/notifications/read/")

    assert theirs is not None and Notification.objects.get(pk=theirs.pk).read_at is None


def test_the_unread_counter_follows_notices_and_mark_read(user, other_user):
    from accounts.services import notifications_mark_read

    notify(user=user, text="one")
    notify(user=user, text="two")
    notify(user=other_user, text="theirs")
    user.refresh_from_db()
    assert user.unread_notifications == 2 == Notification.objects.for_user(user).unread().count()

    assert notifications_mark_read(user=user) == 2
    notify(user=user, text="three")
    user.refresh_from_db()
    other_user.refresh_from_db()
    assert user.unread_notifications == 1 and other_user.unread_notifications == 1
    assert notifications_mark_read(user=user) == 1 and notifications_mark_read(user=user) == 0
    user.refresh_from_db()
    assert user.unread_notifications == 0
