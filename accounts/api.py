from django.contrib.auth import authenticate
from django.http import HttpRequest
from ninja import Router, Status

from core.errors import RateLimited
from core.schemas import ErrorOut

from .ratelimit import auth_blocked, auth_failed
from .schemas import MeOut, TokenIn, TokenOut
from .services import token_create

router = Router(tags=["auth"])


@router.post(
    "/token",
    auth=None,
    response={201: TokenOut, 401: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Exchange a username and password for a bearer token",
)
def token_obtain(request: HttpRequest, payload: TokenIn):
    if auth_blocked(request, payload.username):
        raise RateLimited("Too many failed attempts. Wait a minute and try again.")
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        auth_failed(request, payload.username)
        return Status(401, {"detail": "Invalid username or password."})
    _token, raw = token_create(user=user, name=payload.name)
    return Status(201, {"token": raw})


@router.get("/me", response=MeOut, summary="The authenticated caller")
def me(request: HttpRequest):
    return request.auth
