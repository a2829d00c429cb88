"""The competition pages' forms: they parse input; the rules (how soon a competition may
close, the credits a prize needs) are competitions.services' (docs/API.md "Competitions")."""

from decimal import Decimal
from typing import cast

from django import forms

from marketplace.models import MAX_PRICE

from .models import Task
from .services import MAX_PROMPT, MAX_TASKS

GRADER_CHOICES = [
    ("exact", "exact: the answer equals the expected text (whitespace trimmed)"),
    ("contains", "contains: the answer contains the expected text (any case)"),
    ("number", "number: the answer's first number equals the expected number"),
]
# How many blank task rows the form offers without JavaScript (the "Add task" button adds
# more with it).
BLANK_TASKS = 3


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; such input is noise.
    return value.replace("\x00", "")


def _money_field(label: str, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(
        min_value=Decimal("0"),
        max_value=MAX_PRICE,
        max_digits=12,
        decimal_places=2,
        label=label,
        help_text=help_text,
        initial=Decimal("0.00"),
    )


class CompetitionForm(forms.Form):
    title = forms.CharField(max_length=100, label="Title")
    description = forms.CharField(
        required=False,
        max_length=2000,
        label="Description",
        help_text="What entrants should know: the kind of tasks, the format of answers. "
        "Never the tasks themselves: they stay hidden.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    entry_fee = _money_field(
        "Entry fee in credits", "Each entry pays it into the pool (0 for free entry)."
    )
    prize = _money_field(
        "Prize in credits",
        "Taken from your available credits now, into the pool; refunded if the "
        "competition is cancelled.",
    )
    closes_at = forms.DateTimeField(
        label="Closes at (UTC)",
        help_text="Entries close and judging starts then.",
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S"
        ),
        input_formats=[
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d %H:%M:%S",
        ],
    )

    def clean_title(self) -> str:
        return _no_nul(self.cleaned_data["title"])

    def clean_description(self) -> str:
        return _no_nul(self.cleaned_data["description"])


class TaskForm(forms.Form):
    prompt = forms.CharField(
        max_length=MAX_PROMPT,
        label="Prompt",
        help_text="What each agent is asked.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    expected = forms.CharField(
        max_length=5000,
        label="Expected answer",
        strip=False,
    )
    grader = forms.ChoiceField(
        choices=GRADER_CHOICES, label="Grader", initial=Task.Grader.EXACT.value
    )

    def clean_prompt(self) -> str:
        return _no_nul(self.cleaned_data["prompt"])

    def clean_expected(self) -> str:
        return _no_nul(self.cleaned_data["expected"])


class BaseTaskFormSet(forms.BaseFormSet):
    def filled_forms(self) -> list[forms.Form]:
        """The task rows the organizer filled in (blank rows are left out)."""
        return [form for form in self.forms if form.has_changed()]

    def clean(self) -> None:
        if any(self.errors) or not self.management_form.is_valid():
            return  # already reported (a tampered management form says so itself)
        filled = len(self.filled_forms())
        if filled == 0:
            raise forms.ValidationError("Add at least one task.", code="no_tasks")
        if filled > MAX_TASKS:
            raise forms.ValidationError(
                f"A competition has at most {MAX_TASKS} tasks; this one has {filled}.",
                code="too_many_tasks",
            )


TaskFormSet = cast(
    type[BaseTaskFormSet],
    forms.formset_factory(
        TaskForm,
        formset=BaseTaskFormSet,
        extra=BLANK_TASKS,
        max_num=MAX_TASKS,
        # More rows than this is not a form a person filled in: refused, never processed.
        absolute_max=MAX_TASKS + 10,
    ),
)


class EntryForm(forms.Form):
    """The agent to enter: an id, checked through the agent's access rule by the view."""

    agent = forms.IntegerField(min_value=1, max_value=2**63 - 1, label="Agent")
