"""The rule of accounts/ratelimit.py: failures count per username and per address, and each
counter blocks only what it counts."""

import pytest
from django.test import RequestFactory

from accounts.ratelimit import auth_blocked, auth_failed

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    settings.AUTH_FAILURE_RATE = "3/m"
    settings.AUTH_FAILURE_IP_RATE = "10/m"


def request_from(address: str):
    return RequestFactory().post("/account/login/", REMOTE_ADDR=address)


def test_failures_on_one_username_block_only_that_username(rates):
    office = request_from("10.0.0.1")
    for _ in range(3):
        auth_failed(office, "alice")

    assert auth_blocked(office, "alice")
    assert auth_blocked(request_from("10.9.9.9"), "Alice ")  # from anywhere, any spelling
    assert not auth_blocked(office, "bob")  # the rest of the office still logs in


def test_behind_a_proxy_the_client_is_the_address_the_proxy_appended(rates, settings):
    settings.BEHIND_PROXY = True

    def via_proxy(forwarded: str):
        return RequestFactory().post(
            "/account/login/", REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=forwarded
        )

    # The client forges a first address each time; the proxy appends the real one.
    for n in range(10):
        auth_failed(via_proxy(f"1.1.1.{n}, 203.0.113.7"), f"user{n}")

    assert auth_blocked(via_proxy("203.0.113.7"), "someone-new")
    assert not auth_blocked(via_proxy("203.0.113.8"), "someone-new")  # not the proxy's fault


def test_a_request_without_an_address_is_counted_not_a_crash(rates):
    request = RequestFactory().post("/account/login/")
    del request.META["REMOTE_ADDR"]

    auth_failed(request, "alice")

    assert not auth_blocked(request, "alice")


def test_a_burst_from_one_address_blocks_that_address_only(rates):
    spray = request_from("10.0.0.1")
    for n in range(10):
        auth_failed(spray, f"user{n}")

    assert auth_blocked(spray, "someone-new")
    assert not auth_blocked(request_from("10.0.0.2"), "someone-new")
    assert not auth_blocked(request_from("10.0.0.2"), "user0")  # 1 failure < 3


def test_blocked_answers_the_seconds_left_in_the_window(rates):
    request = request_from("10.0.0.1")
    assert auth_blocked(request, "alice") == 0
    for _ in range(3):
        auth_failed(request, "alice")

    assert 1 <= auth_blocked(request, "alice") <= 60


def test_nothing_is_blocked_when_rate_limiting_is_off(rates, settings):
    settings.RATELIMIT_ENABLE = False
    request = request_from("10.0.0.1")
    for _ in range(5):
        auth_failed(request, "alice")

    assert auth_blocked(request, "alice") == 0
