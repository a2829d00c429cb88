from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from .models import User
from .ratelimit import auth_blocked, auth_failed
from .services import TOKEN_MAX_DAYS

RATE_LIMITED_MESSAGE = "Too many failed attempts. Wait a minute, then try again."


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional. Only used to reach you.")

    class Meta:
        model = User
        fields = ("username", "email")


class LoginForm(AuthenticationForm):
    pass


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's log-in form (admin.site.login_form, set in accounts/admin.py), limited like
    the site's log-in: the same counters (accounts/ratelimit.py), so the admin's door is no
    way around them. A blocked attempt is refused before the password is checked, and
    `retry_after` tells accounts.views.admin_login to answer 429."""

    retry_after = 0

    def clean(self):
        username = str(self.data.get("username", ""))
        self.retry_after = auth_blocked(self.request, username)
        if self.retry_after:
            raise ValidationError(RATE_LIMITED_MESSAGE, code="rate_limited")
        try:
            return super().clean()
        except ValidationError:
            # Wrong password, inactive, or not staff: all count as a failed log-in.
            auth_failed(self.request, username)
            raise


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What this token is for, e.g. 'laptop script'.",
        widget=forms.TextInput(attrs={"placeholder": "laptop script"}),
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=TOKEN_MAX_DAYS,
        help_text=f"1 to {TOKEN_MAX_DAYS}. Leave empty for a token that never expires.",
    )
