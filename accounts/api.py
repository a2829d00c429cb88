from django.contrib.auth import authenticate
from django.http import HttpRequest
from ninja import Router, Status
from ninja.errors import HttpError
from ninja.pagination import paginate

from core.errors import RateLimited
from core.schemas import IdPath, errors

from .models import ApiToken
from .ratelimit import auth_blocked, auth_failed
from .schemas import ApiTokenOut, MeOut, TokenIn, TokenOut
from .services import token_create, token_revoke

router = Router(tags=["auth"])


@router.post(
    "/token",
    auth=None,
    response={201: TokenOut, **errors(429)},
    summary="Exchange a username and password for a bearer token",
)
def token_obtain(request: HttpRequest, payload: TokenIn):
    retry_after = auth_blocked(request, payload.username)
    if retry_after:
        raise RateLimited(
            "Too many failed attempts. Wait a minute and try again.", retry_after=retry_after
        )
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
