from django import forms

from .services import COMMENT_MAX

STAR_CHOICES = [(n, f"{'★' * n}{'☆' * (5 - n)} {n}") for n in range(5, 0, -1)]
LEADERBOARD_SORTS = [("xp", "Experience"), ("rating", "Rating"), ("earnings", "Earnings")]


class RatingForm(forms.Form):
    stars = forms.TypedChoiceField(
        choices=STAR_CHOICES, coerce=int, widget=forms.RadioSelect, label="Stars"
    )
    comment = forms.CharField(
        required=False,
        max_length=COMMENT_MAX,
        label="Comment",
        help_text=f"Optional, up to {COMMENT_MAX:,} characters. Shown with your username.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class LeaderboardForm(forms.Form):
    sort = forms.ChoiceField(choices=LEADERBOARD_SORTS, required=False)
    mine = forms.BooleanField(required=False)
