from django import forms

from .validation import MAX_SOURCE_BYTES

EXAMPLE = '''from smolagents import tool


@tool
def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text to count words in.
    """
    return len(text.split())
'''


class ToolRegisterForm(forms.Form):
    code = forms.CharField(
        max_length=MAX_SOURCE_BYTES,
        strip=False,
        help_text=(
            "One @tool function or one Tool subclass, plus its imports. It is checked without "
            "being run, and only ever runs inside the agents' sandbox."
        ),
        widget=forms.Textarea(
            attrs={
                "rows": 22,
                "spellcheck": "false",
                "autocapitalize": "off",
                "class": "code-input",
            }
        ),
    )
    description = forms.CharField(
        required=False,
        max_length=5000,
        help_text="Optional. Replaces the description written in the code.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ToolFilterForm(forms.Form):
    KINDS = [("", "All tools"), ("builtin", "Built-in"), ("custom", "Registered"), ("mine", "Mine")]
    STATUSES = [("", "Any status"), ("valid", "Valid"), ("invalid", "Invalid")]

    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name or description"}),
    )
    kind = forms.ChoiceField(required=False, choices=KINDS, label="Kind")
    status = forms.ChoiceField(required=False, choices=STATUSES, label="Status")
