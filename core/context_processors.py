"""Template context shared by every page."""

from django.http import HttpRequest

from .pagecache import CSRF_PLACEHOLDER


def csrf(request: HttpRequest) -> dict:
    """While a page is rendered to be kept (core.pagecache), `csrf_token` is a placeholder
    that each response replaces with its own token; otherwise Django's own processor, which
    runs before this one, stands."""
    if getattr(request, "page_cache_rendering", False):
        return {"csrf_token": CSRF_PLACEHOLDER}
    return {}
