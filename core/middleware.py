from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import get_exception_response
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, get_resolver, get_urlconf

from .errors import Forbidden, NotFound


def _is_page(request: HttpRequest) -> bool:
    # The API answers its own errors in JSON (config/api.py, config/middleware.py).
    return not request.path.startswith("/api/")


def error_page(request: HttpRequest, status: int, exception: Exception) -> HttpResponse:
    """The project's own 404/403 page (handler404/handler403 in the URLconf), as Django
    renders it with DEBUG off."""
    return get_exception_response(request, get_resolver(get_urlconf()), status, exception)


class DomainAccessMiddleware:
    """Pages: the one place where the access rules' errors become HTTP statuses.

    `Agent.objects.get_for(...)` and the other access rules raise `NotFound` (the user may
    not know the object exists) or `Forbidden` (they may look but not do this). Views let
    them propagate; here they become 404 and 403 responses, rendered by the URLconf's
    handler404 / handler403 (templates/404.html, 403.html). The API maps the same errors in
    its exception handler (config/api.py).

    Django shows its technical 404 page when DEBUG is on; pages render the styled one in
    development too, so what a person sees does not depend on DEBUG (403 already does not).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code == 404
            and getattr(request, "resolver_match", None) is None
            and _is_page(request)
        ):
            # No URL pattern matched: Django's technical 404 page replaces the styled one.
            return error_page(request, 404, Resolver404({"path": request.path_info}))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if (
            isinstance(exception, NotFound)
            and _is_page(request)
            and not request.user.is_authenticated
        ):
            # Pages open to visitors (listed agents, active listings): whatever they may not
            # see sends them to log in, the same answer for every id, so it tells nothing
            # about what exists.
            return redirect_to_login(request.get_full_path())
        if isinstance(exception, NotFound):
            error: Exception = Http404(exception.detail)
        elif isinstance(exception, Forbidden):
            error = PermissionDenied(exception.detail)
        elif isinstance(exception, Http404) and settings.DEBUG:
            error = exception  # a view's own 404, styled in development too
        else:
            return None
        if not _is_page(request):
            raise error from exception
        status = 404 if isinstance(error, Http404) else 403
        return error_page(request, status, error)
