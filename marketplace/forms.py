from decimal import Decimal

from django import forms

from .models import MAX_PRICE, Listing

SORT_CHOICES = [
    ("newest", "Newest first"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
    ("-rating", "Rating: best first"),
    ("rating", "Rating: worst first"),
    ("-level", "Level: highest first"),
    ("level", "Level: lowest first"),
]


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; such input is noise, not a search.
    return value.replace("\x00", "")


class ListingFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name or description"}),
    )
    type = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Every type"),
            ("sale", "For sale"),
            ("rent", "For rent"),
            ("auction", "Auctions"),
        ],
        label="Type",
    )
    min_price = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_PRICE, decimal_places=2, label="Min price"
    )
    max_price = forms.DecimalField(
        required=False, min_value=0, max_value=MAX_PRICE, decimal_places=2, label="Max price"
    )
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label="Sort")

    def clean_q(self) -> str:
        return _no_nul(self.cleaned_data["q"])


class ListingCreateForm(forms.Form):
    agent = forms.ModelChoiceField(queryset=None, label="Agent", empty_label="Pick an agent")
    listing_type = forms.ChoiceField(
        choices=[
            ("sale", "Sell (ownership moves to the buyer)"),
            ("rent", "Rent (time-limited use)"),
            ("auction", "Auction (the highest bid at the end buys it)"),
        ],
        label="Listing type",
        widget=forms.RadioSelect,
        initial="sale",
    )
    price = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_value=MAX_PRICE,
        max_digits=12,
        decimal_places=2,
        label="Price in credits",
        help_text="For a rental, the price of one rental period; for an auction, the start price.",
    )
    rental_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        label="Rental days",
        help_text="Rent listings only: how long one rental lasts (1–365 days).",
    )

    reserve_price = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        max_value=MAX_PRICE,
        max_digits=12,
        decimal_places=2,
        label="Reserve price (optional)",
        help_text="Auctions only: below this the agent is not sold. Bidders never see it.",
    )
    ends_at = forms.DateTimeField(
        required=False,
        label="Auction ends (UTC)",
        help_text="Auctions only: at least a few minutes and at most 30 days from now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=[
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%d %H:%M:%S",
        ],
    )

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents

    def _entered(self, name: str):
        return (
            self[name].value()
            if self.is_bound
            else self.get_initial_for_field(self.fields[name], name)
        )

    def entered_price(self) -> Decimal | None:
        """The price typed so far, if it is a valid one (for the fee preview); None else."""
        try:
            return self.fields["price"].clean(self._entered("price"))
        except forms.ValidationError:
            return None

    def entered_type(self) -> str:
        return str(self._entered("listing_type") or "")

    def clean(self):
        data = super().clean()
        listing_type = data.get("listing_type")
        if listing_type == Listing.Type.RENT:
            if not data.get("rental_days"):
                self.add_error("rental_days", "How many days does one rental last?")
        else:
            data["rental_days"] = None
        if listing_type == Listing.Type.AUCTION:
            if not data.get("ends_at") and "ends_at" not in self.errors:
                self.add_error("ends_at", "When does the auction end?")
        else:
            data["reserve_price"] = None
            data["ends_at"] = None
        return data


class PurchaseForm(forms.Form):
    # Generated when the confirmation is shown: a double submit pays once.
    idempotency_key = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def clean_idempotency_key(self) -> str | None:
        return _no_nul(self.cleaned_data["idempotency_key"]) or None


class BidForm(forms.Form):
    """A maximum bid: the proxy rule bids for the bidder up to it (marketplace/auctions.py)."""

    max_amount = forms.DecimalField(
        min_value=Decimal("0.01"),
        max_value=MAX_PRICE,
        max_digits=12,
        decimal_places=2,
        label="Your maximum bid in credits",
        help_text="The auction bids for you up to this, one increment at a time.",
    )
    # Generated when the confirmation is shown: a double submit bids once.
    idempotency_key = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def clean_idempotency_key(self) -> str | None:
        return _no_nul(self.cleaned_data["idempotency_key"]) or None
