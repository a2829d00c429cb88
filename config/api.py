"""The one NinjaAPI, mounted at /api/v1. Each app contributes a Router.

Every error leaves here as {"detail": ..., "code": ...} (docs/API.md "Errors"); the exception
handlers below are the only place the API turns exceptions into statuses.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.api import router as accounts_router
from accounts.auth import api_auth
from agents.api import router as agents_router
from competitions.api import router as competitions_router
from core.errors import DomainError, RateLimited, error_code
from gamification.api import router as gamification_router
from marketplace.api import router as marketplace_router
from monitoring.api import router as monitoring_router
from social.api import router as social_router
from tools_registry.api import router as tools_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Agentbay API",
    version="1",
    description=(
        "Build, run, trade and level up smolagents agents. Contract: docs/API.md. "
        "The OpenAPI schema: [/api/v1/openapi.json](/api/v1/openapi.json)."
    ),
    auth=api_auth,
    urls_namespace="api",
)


def error_response(
    request: HttpRequest, status: int, detail: str | list, code: str | None = None
) -> HttpResponse:
    response = api.create_response(
        request, {"detail": detail, "code": code or error_code(status)}, status=status
    )
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError):
    response = error_response(request, exc.status, exc.detail, exc.code)
    if isinstance(exc, RateLimited) and exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError):
    return error_response(request, 422, exc.errors)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError):
    return error_response(
        request, 401, "Authentication required: send 'Authorization: Bearer <token>'."
    )


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError):
    # ninja's own: 400 unparsable body, 403 CSRF check failed; operations' 401.
    return error_response(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404):
    return error_response(request, 404, "Not found.")


@api.exception_handler(RequestDataTooBig)
def body_too_large(request: HttpRequest, exc: RequestDataTooBig):
    # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE; pages answer 400 too.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    return error_response(request, 400, f"Request body too large: the limit is {limit:g} MB.")


@api.exception_handler(SuspiciousOperation)
def suspicious_operation(request: HttpRequest, exc: SuspiciousOperation):
    return error_response(request, 400, "Bad request.")


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception):
    logger.exception("Unhandled API error on %s %s", request.method, request.path)
    return error_response(request, 500, "Internal server error.")


api.add_router("/auth", accounts_router)
api.add_router("/", tools_router)
api.add_router("/", agents_router)
api.add_router("/", gamification_router)
api.add_router("/", marketplace_router)
api.add_router("/", social_router)
api.add_router("/", competitions_router)
api.add_router("/", monitoring_router)
