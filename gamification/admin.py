from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.shortcuts import render

from core.admin import ReadOnlyAdmin
from core.errors import Invalid

from .models import Achievement, AgentAchievement, AgentStats, ExperienceEvent, Rating
from .services import rating_hide, rating_unhide


@admin.register(AgentStats)
class AgentStatsAdmin(ReadOnlyAdmin):
    list_display = (
        "agent",
        "level",
        "experience_points",
        "total_requests",
        "successful_requests",
        "failed_requests",
        "rating",
        "total_ratings",
        "earnings",
        "competitions_won",
        "updated_at",
    )
    list_filter = ("level",)
    search_fields = ("agent__name", "agent__owner__username")
    list_select_related = ("agent",)
    ordering = ("-experience_points",)


@admin.register(ExperienceEvent)
class ExperienceEventAdmin(ReadOnlyAdmin):
    list_display = (
        "agent", "kind", "xp", "level_before", "level_after", "run", "competition_id", "created_at"
    )  # fmt: skip
    list_filter = ("kind", "created_at")
    search_fields = ("agent__name",)
    list_select_related = ("agent", "run")
    raw_id_fields = ("agent", "run")


class HideForm(forms.Form):
    reason = forms.CharField(
        max_length=300, help_text="Shown to staff only; kept with the rating.", strip=True
    )


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ("agent", "user", "stars", "short_comment", "is_hidden", "updated_at")
    list_filter = ("is_hidden", "stars", "updated_at")
    search_fields = ("agent__name", "user__username", "comment")
    list_select_related = ("agent", "user")
    readonly_fields = (
        "agent",
        "user",
        "stars",
        "comment",
        "is_hidden",
        "hidden_reason",
        "hidden_by",
        "hidden_at",
        "five_star_xp_awarded",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    actions = ("hide_ratings", "unhide_ratings")

    def has_add_permission(self, request) -> bool:
        return False  # ratings come from users who ran the agent

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # hide instead: the average is recomputed and the reason kept

    @admin.display(description="comment")
    def short_comment(self, obj: Rating) -> str:
        return obj.comment[:80]

    @admin.action(description="Hide selected ratings (asks for a reason)")
    def hide_ratings(self, request, queryset):
        # Two steps, like Django's delete confirmation: ask for the reason, then apply.
        form = HideForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for rating in queryset:
                try:
                    rating_hide(rating=rating, by=request.user, reason=form.cleaned_data["reason"])
                except Invalid as exc:
                    self.message_user(request, exc.detail, messages.ERROR)
                    return None
            self.message_user(request, f"Hid {queryset.count()} rating(s).", messages.SUCCESS)
            return None
        return render(
            request,
            "gamification/admin/rating_hide.html",
            {
                **self.admin_site.each_context(request),
                "title": "Hide ratings",
                "ratings": queryset.select_related("agent", "user"),
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Show selected ratings again")
    def unhide_ratings(self, request, queryset):
        for rating in queryset.filter(is_hidden=True):
            rating_unhide(rating=rating, by=request.user)
        self.message_user(request, "Ratings shown again.", messages.SUCCESS)


class AgentAchievementInline(admin.TabularInline):
    model = AgentAchievement
    extra = 0
    fields = ("agent", "unlocked_at", "run")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    list_display = ("icon", "name", "code", "description", "unlock_count")
    search_fields = ("code", "name", "description")
    # Definitions come from gamification.rules (synced by a migration): read-only here.
    readonly_fields = ("code", "name", "description", "icon", "position")
    inlines = [AgentAchievementInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(unlock_total=Count("unlocks"))

    @admin.display(description="unlocks", ordering="unlock_total")
    def unlock_count(self, obj) -> int:
        return obj.unlock_total

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AgentAchievement)
class AgentAchievementAdmin(ReadOnlyAdmin):
    list_display = ("agent", "achievement", "unlocked_at", "run")
    list_filter = ("achievement", "unlocked_at")
    search_fields = ("agent__name", "achievement__name")
    list_select_related = ("agent", "achievement")
