from collections.abc import Callable
from functools import wraps

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status
from ninja.decorators import decorate_view
from ninja.errors import HttpError
from ninja.pagination import paginate

from core.errors import RateLimited
from core.schemas import IdPath, errors

from .models import ApiToken
from .ratelimit import auth_blocked, auth_failed, with_retry_after
from .schemas import ApiTokenOut, MeOut, TokenIn, TokenOut
from .services import token_create, token_revoke

router = Router(tags=["auth"])

# Set on the request by an operation refusing a rate-limited attempt, read by
# _retry_after_header once the API's exception handler (config/api.py) built the 429.
RETRY_AFTER_ATTR = "accounts_retry_after"


def _retry_after_header(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Add Retry-After to the operation's 429. The error body stays the exception handler's
    (one error shape everywhere); only the operation knows how long the window has left."""

    @wraps(run)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = run(request, *args, **kwargs)
        seconds = getattr(request, RETRY_AFTER_ATTR, 0)
        if response.status_code == 429 and seconds:
            with_retry_after(response, seconds)
        return response

    return wrapper


@router.post(
    "/token",
    auth=None,
    response={201: TokenOut, **errors(429)},
    summary="Exchange a username and password for a bearer token",
)
@decorate_view(_retry_after_header)
def token_obtain(request: HttpRequest, payload: TokenIn):
    retry_after = auth_blocked(request, payload.username)
    if retry_after:
        setattr(request, RETRY_AFTER_ATTR, retry_after)
        raise RateLimited("Too many failed attempts. Wait a minute and try again.")
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        auth_failed(request, payload.username)
        raise HttpError(401, "Invalid username or password.")
    token, raw = token_create(user=user, name=payload.name, expires_in_days=payload.expires_in_days)
    return Status(201, {"id": token.pk, "token": raw, "expires_at": token.expires_at})


@router.get(
    "/tokens",
    response={200: list[ApiTokenOut], **errors()},
    summary="Your API tokens (never the secret)",
)
@paginate
def token_list(request: HttpRequest):
    return ApiToken.objects.for_user(request.auth)


@router.delete(
    "/tokens/{token_id}",
    response={204: None, **errors(403, 404)},
    summary="Revoke one of your tokens, at once",
)
def token_delete(request: HttpRequest, token_id: int = IdPath()):
    token_revoke(token=ApiToken.objects.get_for(request.auth, token_id))
    return Status(204, None)


@router.get("/me", response={200: MeOut, **errors()}, summary="The authenticated caller")
def me(request: HttpRequest):
    return request.auth
