from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from .errors import Forbidden, NotFound


class DomainAccessMiddleware:
    """Pages: the one place where the access rules' errors become HTTP statuses.

    `Agent.objects.get_for(...)` and the other access rules raise `NotFound` (the user may
    not know the object exists) or `Forbidden` (they may look but not do this). Views let
    them propagate; here they become Django's own 404 and 403 responses (and templates).
    The API maps the same errors in its exception handler (config/api.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, NotFound):
            raise Http404(exception.detail) from exception
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.detail) from exception
        return None
