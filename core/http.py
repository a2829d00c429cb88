"""Small HTTP helpers shared by every app's views."""

from django.http import HttpRequest, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next_url(request: HttpRequest, fallback: str, *, field: str = "next") -> str:
    """The `next` URL the request carries (POST, then GET) if it stays on this site, else
    `fallback`. A `next` pointing elsewhere would make every form an open redirect."""
    candidate = request.POST.get(field) or request.GET.get(field) or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def redirect_next(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(safe_next_url(request, fallback))
