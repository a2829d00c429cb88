"""Authentication for the JSON API: bearer tokens for scripts, the session for the browser."""

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from .services import token_authenticate


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = token_authenticate(raw=token)
        if user is not None:
            # Operations read the caller from request.auth or request.user alike.
            request.user = user
        return user


class ActiveSessionAuth(SessionAuth):
    """The browser's session (CSRF-checked by django-ninja), for active users only."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


api_auth = [BearerTokenAuth(), ActiveSessionAuth()]
