from django.contrib import admin, messages

from core.admin import ReadOnlyAdmin

from .models import Agent, AgentActivity, Conversation, Run, RunStep, Worker
from .services import agent_stop, run_cancel


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "state", "model", "created_at", "updated_at")
    list_filter = ("state", "created_at")
    search_fields = ("name", "description", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = [field.name for field in Agent._meta.fields]
    actions = ["stop_agents"]

    def has_stop_permission(self, request) -> bool:
        return request.user.has_perm("agents.change_agent")

    @admin.action(
        description="Stop the selected agents (cancels their runs in flight)",
        permissions=["stop"],
    )
    def stop_agents(self, request, queryset) -> None:
        stopped = 0
        for agent in queryset:
            was_stopped = agent.state == Agent.State.STOPPED
            agent_stop(agent=agent, by=request.user)
            stopped += not was_stopped
        self.message_user(request, f"Stopped {stopped} agent(s).", messages.SUCCESS)


@admin.register(AgentActivity)
class AgentActivityAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "agent", "verb", "actor", "detail")
    list_filter = ("verb", "created_at")
    search_fields = ("agent__name", "actor__username", "detail")
    list_select_related = ("agent", "actor")
    readonly_fields = ("agent", "actor", "verb", "detail", "created_at")


class RunInline(ReadOnlyInline):
    model = Run
    fields = ("status", "message", "created_at", "finished_at")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "agent", "user", "created_at", "updated_at")
    list_filter = ("created_at",)
    search_fields = ("title", "agent__name", "user__username")
    list_select_related = ("agent", "user")
    readonly_fields = ("agent", "user", "title", "created_at", "updated_at")
    inlines = [RunInline]


class RunStepInline(ReadOnlyInline):
    model = RunStep
    # `memory` (the step as smolagents replays it) is left out: long JSON, read by the runtime.
    fields = (
        "index",
        "kind",
        "text",
        "code",
        "observation",
        "error",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "created_at",
    )
    readonly_fields = fields
    show_change_link = False


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "agent_name",
        "user",
        "status",
        "created_at",
        "duration_ms",
        "input_tokens",
        "output_tokens",
    )
    list_filter = ("status", "created_at")
    search_fields = ("agent_name", "user__username", "message")
    list_select_related = ("user",)
    readonly_fields = [field.name for field in Run._meta.fields]
    inlines = [RunStepInline]
    actions = ["cancel_runs"]

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("agents.change_run")

    @admin.action(description="Cancel the selected runs in flight", permissions=["cancel"])
    def cancel_runs(self, request, queryset) -> None:
        cancelled = 0
        for run in queryset.in_flight():
            run = run_cancel(run=run, by=request.user, staff=True)
            cancelled += run.status == Run.Status.CANCELLED
        self.message_user(request, f"Cancelled {cancelled} run(s).", messages.SUCCESS)


@admin.register(Worker)
class WorkerAdmin(ReadOnlyAdmin):
    """Worker processes as they report themselves (the ops board, /ops/, shows them live)."""

    list_display = ("name", "last_seen", "stale", "in_flight", "capacity", "mode", "started_at")
    search_fields = ("name",)
    readonly_fields = [field.name for field in Worker._meta.fields]

    @admin.display(boolean=True, description="stale")
    def stale(self, obj: Worker) -> bool:
        return obj.is_stale

    @admin.display(description="isolation")
    def mode(self, obj: Worker) -> str:
        return obj.isolation_mode
