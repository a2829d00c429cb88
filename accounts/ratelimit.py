"""Rate limits on authentication, counted in Django's cache by django-ratelimit.

Only failures count: a user who logs in correctly is never slowed down, while guessing
passwords for one account or from one address is stopped after a few tries. Every failed
log-in (the log-in page, the admin's log-in, `POST /api/v1/auth/token`) is counted twice, and
the two counters block different things:

- per username, `AUTH_FAILURE_RATE` (default 5/m): once used up, that username cannot log in
  from anywhere until the window ends; other usernames are not affected;
- per client address, `AUTH_FAILURE_IP_RATE` (default 30/m, larger on purpose): once used up,
  nobody can log in from that address until the window ends.

So one user mistyping a password locks neither the people behind the same address (an office,
a NAT) nor themselves for long, a burst of guesses at one account stops at 5, and one address
spraying guesses over many usernames stops at 30. Each blocked answer is a 429 whose
`Retry-After` is the time left in the exhausted window (the longest one, when both are).

The counters live in the cache: with several web processes that must be one shared cache
(`REDIS_URL`); accounts/checks.py warns when it is not.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

UNKNOWN_ADDRESS = "0.0.0.0"


def client_ip(request: HttpRequest) -> str:
    """The client's address, for the per-address counters (RATELIMIT_IP_META_KEY).

    Behind a proxy (BEHIND_PROXY=1) every request arrives from the proxy, so counting
    REMOTE_ADDR would make 30 failures anywhere lock out everyone: the client is the last
    address in X-Forwarded-For, the one the proxy appended (earlier ones are whatever the
    client sent, free to forge). A request without an address (some test clients, a Unix
    socket) counts in one shared bucket rather than failing."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.META.get("REMOTE_ADDR") or UNKNOWN_ADDRESS


def _by_username(username: str):
    def key(group: str, request: HttpRequest) -> str:
        return username.strip().lower()[:150]

    return key


def _usages(request: HttpRequest, username: str, *, increment: bool) -> list[dict | None]:
    return [
        get_usage(
            request,
            group="auth-fail-ip",
            key="ip",
            rate=settings.AUTH_FAILURE_IP_RATE,
            increment=increment,
        ),
        get_usage(
            request,
            group="auth-fail-user",
            key=_by_username(username),
            rate=settings.AUTH_FAILURE_RATE,
            increment=increment,
        ),
    ]


def _retry_after(usage: dict) -> int:
    # time_left is -1 when the cache failed (django-ratelimit then fails closed).
    return max(int(usage["time_left"]), 1)


def auth_blocked(request: HttpRequest, username: str) -> int:
    """Seconds until this username, from this client, may try again; 0 when it may now.

    Blocked once either counter used up its allowance (see the module docstring). A usage of
    None means rate limiting is off (RATELIMIT_ENABLE) and blocks nothing.
    """
    waits = [
        _retry_after(usage)
        for usage in _usages(request, username, increment=False)
        if usage is not None and usage["count"] >= usage["limit"]
    ]
    return max(waits, default=0)


def auth_failed(request: HttpRequest, username: str) -> None:
    """Record one failed attempt, against the address and against the username."""
    _usages(request, username, increment=True)


def signup_blocked(request: HttpRequest) -> int:
    """Count one sign-up attempt from this address; seconds to wait when it is over
    `SIGNUP_RATE` (0 when it is allowed)."""
    usage = get_usage(
        request, group="signup-ip", key="ip", rate=settings.SIGNUP_RATE, increment=True
    )
    if usage is None or not usage["should_limit"]:
        return 0
    return _retry_after(usage)


def with_retry_after(response: HttpResponse, seconds: int) -> HttpResponse:
    """A 429 tells the client when to come back (RFC 9110, Retry-After)."""
    response["Retry-After"] = str(seconds)
    return response
