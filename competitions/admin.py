from django.contrib import admin, messages

from core.admin import ReadOnlyAdmin
from core.errors import DomainError

from . import services
from .models import Competition, Entry


@admin.register(Competition)
class CompetitionAdmin(ReadOnlyAdmin):
    # Tasks are hidden from everyone but the organizer: no task inline here either.
    list_display = ("title", "organizer", "status", "entry_fee", "prize", "closes_at")
    list_filter = ("status",)
    search_fields = ("title", "organizer__username")
    readonly_fields = [f.name for f in Competition._meta.fields]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected competitions (full refunds)")
    def cancel(self, request, queryset) -> None:
        done = 0
        for competition in queryset:
            try:
                services.competition_cancel(competition=competition, by=request.user, staff=True)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"{competition}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Cancelled {done} competition(s) and refunded them.")


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("competition", "agent_name", "owner", "fee", "score", "rank", "payout")
    readonly_fields = [f.name for f in Entry._meta.fields]
