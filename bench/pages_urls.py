"""Bench-only URLconf for bench/pages.py: the site's own URLs plus `/bench-hello/`, a
hello-world view through the same middleware, the floor every page is compared with.
bench/pages.py selects it with ROOT_URLCONF in gunicorn's environment; the product's URLs
never include it."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

handler404 = "config.views.page_not_found"
handler403 = "config.views.permission_denied"


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"Hello, world!", content_type="text/plain")


urlpatterns = [
    path("bench-hello/", hello),
    path("", include("config.urls")),
]
