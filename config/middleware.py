from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import error_code


class ApiJsonErrorsMiddleware:
    """Under /api/, every error is JSON `{"detail": ..., "code": ...}`, whoever produced it
    (docs/API.md "Errors").

    django-ninja's errors already have that shape (config/api.py); this covers the rest:
    unknown routes (Django's 404 page), methods a path does not allow (405) and server errors.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        detail = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        if status == 404:
            detail = "Not found."
        elif status == 405:
            allowed = response.get("Allow", "")
            detail = f"Method {request.method} not allowed." + (
                f" Allowed: {allowed}." if allowed else ""
            )
        new = JsonResponse({"detail": detail, "code": error_code(status)}, status=status)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                new[header] = response[header]
        return new
