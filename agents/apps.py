from django.apps import AppConfig
from django.core import checks


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from .checks import sandbox_shared_uid_allowed

        checks.register(sandbox_shared_uid_allowed, checks.Tags.security)
