from django.apps import AppConfig
from django.core import checks


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from . import services
        from .checks import sandbox_shared_uid_allowed
        from .runtime import periodic

        checks.register(sandbox_shared_uid_allowed, checks.Tags.security)
        # The task table keeps a row per turn; finished ones go after TASK_RETENTION_DAYS.
        periodic.register("tasks_prune", services.tasks_prune, every_seconds=600)
