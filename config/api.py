"""The one NinjaAPI, mounted at /api/v1. Each app contributes a Router."""

import logging

from django.http import Http404, HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.api import router as accounts_router
from accounts.auth import api_auth
from agents.api import router as agents_router
from core.errors import DomainError
from gamification.api import router as gamification_router
from marketplace.api import router as marketplace_router
from tools_registry.api import router as tools_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Agentbay API",
    version="1",
    description="Build, run, trade and level up smolagents agents. Contract: docs/API.md.",
    auth=api_auth,
    urls_namespace="api",
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError):
    return api.create_response(request, {"detail": exc.detail}, status=exc.status)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError):
    return api.create_response(request, {"detail": exc.errors}, status=422)


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError):
    response = api.create_response(
        request,
        {"detail": "Authentication required: send 'Authorization: Bearer <token>'."},
        status=401,
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError):
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404):
    return api.create_response(request, {"detail": "Not found."}, status=404)


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception):
    logger.exception("Unhandled API error on %s %s", request.method, request.path)
    return api.create_response(request, {"detail": "Internal server error."}, status=500)


api.add_router("/auth", accounts_router)
api.add_router("/", tools_router)
api.add_router("/", agents_router)
api.add_router("/", gamification_router)
api.add_router("/", marketplace_router)
