from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import Resolver404
from django.views.decorators.http import require_GET

from accounts.forms import LoginForm, SignupForm
from marketplace.models import Listing


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("agents:dashboard")
    return render(request, "home.html")


@require_GET
def styleguide(request: HttpRequest) -> HttpResponse:
    """Every UI component on one page, so new UI reuses what exists. DEBUG only."""
    if not settings.DEBUG:
        raise Http404
    bad_form = SignupForm({"username": "", "email": "not-an-email", "password1": "a"})
    bad_form.is_valid()
    return render(
        request,
        "styleguide.html",
        {"bad_form": bad_form, "login_form": LoginForm(request), "rows": range(1, 4)},
    )


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for whatever the page links: the static SVG."""
    return redirect(static("favicon.svg"))


# Error pages: handler404 / handler403 in config/urls.py, and, so they look the same in
# development, core.middleware.DomainAccessMiddleware (DEBUG would show Django's own 404).

# Pages about one agent, and the URL argument naming it.
AGENT_PAGES = {
    ("agents", "agent_detail"): "pk",
    ("agents", "agent_edit"): "pk",
    ("agents", "agent_start"): "pk",
    ("agents", "agent_stop"): "pk",
    ("agents", "agent_delete"): "pk",
    ("agents", "chat"): "pk",
    ("gamification", "agent_stats"): "agent_id",
    ("gamification", "rating_save"): "agent_id",
}


def sold_agent_name(request: HttpRequest) -> str | None:
    """The name of the agent this page is about if the user sold it (a sale, not a rental):
    the page is now its buyer's, and the error page says so instead of a bare 403/404."""
    match = request.resolver_match
    user = getattr(request, "user", None)
    if match is None or user is None or not user.is_authenticated:
        return None
    argument = AGENT_PAGES.get((match.namespace, match.url_name))
    agent_id = match.kwargs.get(argument) if argument else None
    if agent_id is None:
        return None
    return (
        Listing.objects.filter(
            agent_id=agent_id,
            seller=user,
            listing_type=Listing.Type.SALE,
            status=Listing.Status.SOLD,
        )
        .exclude(agent__owner=user)
        .values_list("agent_name", flat=True)
        .first()
    )


def _error_context(request: HttpRequest, exception: Exception | None) -> dict:
    """`detail`: the error's message (the access rules write theirs for people);
    `debug`: in development, 404 pages show it too, or which path matched no URL."""
    detail = exception.args[0] if exception is not None and exception.args else ""
    if isinstance(exception, Resolver404):
        detail = f"No URL pattern matches {request.path}."
    return {
        "detail": detail if isinstance(detail, str) else "",
        "debug": settings.DEBUG,
        "sold_agent": sold_agent_name(request),
    }


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", _error_context(request, exception), status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", _error_context(request, exception), status=403)
