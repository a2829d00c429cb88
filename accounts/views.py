from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .forms import AdminLoginForm, LoginForm, SignupForm, TokenCreateForm
from .http import AuthedHttpRequest
from .models import ApiToken, Notification
from .ratelimit import auth_blocked, auth_failed, signup_blocked, with_retry_after
from .services import notifications_mark_read, token_create, token_revoke


class RateLimitedLoginView(LoginView):
    """Django's login view, refusing further attempts after repeated failures."""

    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        retry_after = auth_blocked(request, username)
        if retry_after:
            # An unbound form: validating this one would be one more password attempt.
            form = self.form_class(request, initial={"username": username})
            response = render(
                request,
                self.template_name,
                {"form": form, "rate_limited": True, "next": request.POST.get("next", "")},
                status=429,
            )
            return with_retry_after(response, retry_after)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        auth_failed(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)


login_view = RateLimitedLoginView.as_view()


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's log-in (config/urls.py routes /admin/login/ here): Django's own view, whose
    form (AdminLoginForm, set as admin.site.login_form in accounts/admin.py) counts failures
    and refuses blocked attempts; here a refused attempt becomes a 429 with Retry-After, as on
    the site's log-in page."""
    response = admin.site.login(request)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if isinstance(form, AdminLoginForm) and form.retry_after:
        response.status_code = 429
        with_retry_after(response, form.retry_after)
    return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("agents:dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        retry_after = signup_blocked(request)
        if retry_after:
            messages.error(request, "Too many sign-ups from your address. Try again later.")
            response = render(request, "accounts/signup.html", _signup_context(form), status=429)
            return with_retry_after(response, retry_after)
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to Agentbay, {user.username}.")
            return redirect("agents:dashboard")
    status = 422 if form.errors else 200
    return render(request, "accounts/signup.html", _signup_context(form), status=status)


def _signup_context(form: SignupForm) -> dict:
    return {"form": form, "signup_credits": settings.SIGNUP_CREDITS}


NEW_TOKEN_SESSION_KEY = "accounts:new_api_token"


@require_http_methods(["GET", "POST"])
@login_required
def token_list(request: AuthedHttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, raw = token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
        # Post/redirect/get, so a reload never mints a second token. The raw value waits
        # in the server-side session for exactly one page view, then is gone for good.
        request.session[NEW_TOKEN_SESSION_KEY] = {"id": token.pk, "raw": raw}
        return redirect("accounts:token_list")
    tokens = ApiToken.objects.for_user(request.user)
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    if new_token:
        new_token["token"] = next((t for t in tokens if t.pk == new_token["id"]), None)
    return render(
        request,
        "accounts/token_list.html",
        {
            "form": form,
            "tokens": tokens,
            "new_token": new_token if new_token and new_token["token"] else None,
        },
        status=422 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@login_required
def token_revoke_view(request: AuthedHttpRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.get_for(request.user, pk)
    if request.method == "POST":
        token_revoke(token=token)
        messages.success(request, f"Token “{token.name}” revoked. Scripts using it now get 401.")
        return redirect("accounts:token_list")
    return render(request, "accounts/token_confirm_revoke.html", {"token": token})


@login_required
def account(request: AuthedHttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html")


NOTIFICATIONS_PAGE_SIZE = 25


@require_GET
@login_required
def notification_list(request: AuthedHttpRequest) -> HttpResponse:
    notifications = Notification.objects.for_user(request.user)
    page = Paginator(notifications, NOTIFICATIONS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "accounts/notification_list.html",
        {"page": page, "unread": notifications.unread().exists()},
    )


@require_POST
@login_required
def notification_mark_read(request: AuthedHttpRequest) -> HttpResponse:
    marked = notifications_mark_read(user=request.user)
    if marked:
        messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read.")
    return redirect("accounts:notification_list")
