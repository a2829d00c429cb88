from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from core.admin import ReadOnlyAdmin
from core.errors import Conflict, Invalid

from . import services
from .models import MAX_PRICE, Bid, LedgerEntry, Listing, Rental, Transaction, Wallet


@admin.register(Listing)
class ListingAdmin(ReadOnlyAdmin):
    list_display = (
        "agent_name",
        "listing_type",
        "price",
        "rental_days",
        "status",
        "seller",
        "current_price",
        "bids_count",
        "ends_at",
        "created_at",
    )
    list_filter = ("status", "listing_type", "created_at")
    search_fields = ("agent_name", "agent__description", "seller__username")
    list_select_related = ("seller",)
    readonly_fields = [field.name for field in Listing._meta.fields]
    actions = ["withdraw"]

    # Staff may cancel an auction with bids: listing_withdraw releases its leader's hold.
    @admin.action(description="Suspend (withdraw) the selected active listings or auctions")
    def withdraw(self, request, queryset) -> None:
        done = 0
        for listing in queryset.filter(status=Listing.Status.ACTIVE):
            try:
                services.listing_withdraw(
                    listing=listing, by=request.user, reason=f"Suspended by {request.user}"
                )
            except Conflict:
                continue  # sold or withdrawn meanwhile
            done += 1
        self.message_user(request, f"Withdrew {done} listing(s).", messages.SUCCESS)


class GrantForm(forms.Form):
    amount = forms.DecimalField(min_value=Decimal("0.01"), max_value=MAX_PRICE, decimal_places=2)
    note = forms.CharField(max_length=150, required=False, help_text="Why (kept in the ledger).")


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "user", "balance", "held", "updated_at")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "balance", "held", "created_at", "updated_at")
    actions = ["grant_credits"]

    def has_grant_permission(self, request) -> bool:
        # Balances are never edited; granting (a ledger entry) needs the change permission.
        return request.user.has_perm("marketplace.change_wallet")

    @admin.action(description="Grant credits to the selected wallets", permissions=["grant"])
    def grant_credits(self, request, queryset):
        wallets = list(queryset.select_related("user").filter(user__isnull=False))
        form = GrantForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for wallet in wallets:
                try:
                    services.wallet_grant(
                        user=wallet.user,
                        amount=form.cleaned_data["amount"],
                        by=request.user,
                        note=form.cleaned_data["note"],
                    )
                except Invalid as exc:
                    self.message_user(request, exc.detail, messages.ERROR)
                    return None
            self.message_user(
                request,
                f"Granted {form.cleaned_data['amount']} credits to {len(wallets)} wallet(s).",
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "marketplace/admin_grant_credits.html",
            {
                **self.admin_site.each_context(request),
                "title": "Grant credits",
                "form": form,
                "wallets": wallets,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "kind", "amount", "transaction", "note")
    list_filter = ("kind", "created_at")
    search_fields = ("wallet__user__username", "note")
    list_select_related = ("wallet__user", "transaction")
    readonly_fields = ("wallet", "amount", "kind", "transaction", "note", "created_at")

    @admin.display(description="account")
    def account(self, entry: LedgerEntry) -> str:
        return "platform" if entry.is_platform else str(entry.wallet.user or "closed wallet")


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    fields = ("wallet", "kind", "amount", "note", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "buyer", "listing", "amount", "fee", "expires_at")
    list_filter = ("kind", "created_at")
    search_fields = ("buyer__username", "listing__agent_name", "idempotency_key")
    list_select_related = ("buyer", "listing")
    readonly_fields = [field.name for field in Transaction._meta.fields]
    inlines = [LedgerEntryInline]


@admin.register(Rental)
class RentalAdmin(ReadOnlyAdmin):
    list_display = ("agent", "renter", "starts_at", "expires_at")
    list_filter = ("expires_at",)
    search_fields = ("agent__name", "renter__username")
    list_select_related = ("agent", "renter")
    readonly_fields = ("agent", "renter", "transaction", "starts_at", "expires_at")


@admin.register(Bid)
class BidAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "listing", "bidder", "amount", "max_amount", "leading")
    list_filter = ("leading", "created_at")
    search_fields = ("bidder__username", "listing__agent_name", "idempotency_key")
    list_select_related = ("bidder", "listing")
    readonly_fields = [field.name for field in Bid._meta.fields]
