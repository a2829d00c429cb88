from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .forms import AdminLoginForm
from .models import ApiToken, User

# The admin's log-in counts failures and blocks like the site's (accounts/ratelimit.py);
# accounts.views.admin_login turns a blocked attempt into a 429.
admin.site.login_form = AdminLoginForm


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    fields = ("name", "hint", "created_at", "last_used_at", "expires_at")
    readonly_fields = fields
    can_delete = True
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        # Tokens are created by their owner, who is the only one ever to see the raw value.
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "date_joined")
    search_fields = ("username", "email")
    inlines = [ApiTokenInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "hint", "created_at", "last_used_at", "expires_at")
    list_filter = ("created_at", "last_used_at", "expires_at")
    search_fields = ("name", "user__username", "hint")
    readonly_fields = (
        "user",
        "name",
        "hint",
        "token_hash",
        "created_at",
        "last_used_at",
        "expires_at",
    )
    list_select_related = ("user",)

    def has_add_permission(self, request) -> bool:
        return False
