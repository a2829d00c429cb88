from django.contrib import admin, messages
from django.utils.html import format_html

from .models import AllowedImport, Tool, ToolVersion
from .rendering import highlight_python
from .services import tools_revalidate


class ToolVersionInline(admin.TabularInline):
    model = ToolVersion
    extra = 0
    fields = ("version", "sha256", "created_by", "created_at")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        # Versions come from registration only, where the code is validated.
        return False


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "builtin",
        "owner",
        "latest_version",
        "status",
        "runnable",
        "updated_at",
    )
    list_filter = ("builtin", "status", "runnable", "needs_network")
    search_fields = ("name", "description", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = (
        "name",
        "builtin",
        "owner",
        "description",
        "inputs",
        "output_type",
        "latest_version",
        "builtin_class",
        "needs_network",
        "requires",
        "runnable",
        "runnable_note",
        "created_at",
        "updated_at",
    )
    # Staff may mark a tool invalid by hand (with a reason); everything else is derived.
    fields = ("status", "status_reason", *readonly_fields)
    inlines = [ToolVersionInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ToolVersion)
class ToolVersionAdmin(admin.ModelAdmin):
    list_display = ("tool", "version", "kind", "created_by", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("tool__name", "sha256")
    list_select_related = ("tool", "created_by")
    fields = (
        "tool",
        "version",
        "kind",
        "sha256",
        "description",
        "inputs",
        "output_type",
        "imports",
        "created_by",
        "created_at",
        "highlighted_code",
    )
    readonly_fields = fields

    @admin.display(description="code")
    def highlighted_code(self, obj: ToolVersion) -> str:
        return format_html('<div class="code-block">{}</div>', highlight_python(obj.code))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # immutable: agents pin versions by sha256


@admin.register(AllowedImport)
class AllowedImportAdmin(admin.ModelAdmin):
    list_display = ("module", "created_at")
    search_fields = ("module",)

    # Every allowlist change re-checks the saved tools, so none breaks silently.
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        self._revalidate(request)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        self._revalidate(request)

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        self._revalidate(request)

    def _revalidate(self, request) -> None:
        invalidated = tools_revalidate()
        if invalidated:
            self.message_user(
                request,
                "Marked invalid (they import a module no longer allowed): "
                f"{', '.join(invalidated)}.",
                messages.WARNING,
            )
