from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.forms import LoginForm, SignupForm


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
