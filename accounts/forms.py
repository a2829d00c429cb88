from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from .models import User


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional. Only used to reach you.")

    class Meta:
        model = User
        fields = ("username", "email")


class LoginForm(AuthenticationForm):
    pass


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What this token is for, e.g. 'laptop script'.",
        widget=forms.TextInput(attrs={"placeholder": "laptop script"}),
    )
