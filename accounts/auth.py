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

    def _get_key(self, request: HttpRequest) -> str | None:
        # ninja checks CSRF before it looks at the session. With no signed-in session there
        # is nothing to protect: the caller is unauthenticated (401, docs/API.md "Auth"), not
        # a forged browser request (403). A signed-in session still needs the CSRF token.
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        return user if user is not None and user.is_active else None


api_auth = [BearerTokenAuth(), ActiveSessionAuth()]
