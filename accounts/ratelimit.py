"""Rate limits on authentication, counted in Django's cache by django-ratelimit.

Only failures count: a user who logs in correctly is never slowed down, while guessing
passwords for one account or from one address is stopped after a few tries.
"""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage, is_ratelimited


def _by_username(username: str):
    def key(group: str, request: HttpRequest) -> str:
        return username.strip().lower()[:150]

    return key


def _usages(request: HttpRequest, username: str, *, increment: bool) -> list[dict | None]:
    rate = settings.AUTH_FAILURE_RATE
    return [
        get_usage(request, group="auth-fail-ip", key="ip", rate=rate, increment=increment),
        get_usage(
            request,
            group="auth-fail-user",
            key=_by_username(username),
            rate=rate,
            increment=increment,
        ),
    ]


def auth_blocked(request: HttpRequest, username: str) -> bool:
    """True once the allowed number of failures was used up, by this client or username."""
    return any(
        usage is None or usage["count"] >= usage["limit"]
        for usage in _usages(request, username, increment=False)
    )


def auth_failed(request: HttpRequest, username: str) -> None:
    """Record one failed attempt."""
    _usages(request, username, increment=True)


def signup_blocked(request: HttpRequest) -> bool:
    """Counts every sign-up attempt from one address."""
    return is_ratelimited(
        request, group="signup-ip", key="ip", rate=settings.SIGNUP_RATE, increment=True
    )
