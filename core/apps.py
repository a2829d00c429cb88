from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared kernel: domain errors, request types, the API error schema and small HTTP
    helpers every app uses. It imports no domain app, so any app may import it."""

    name = "core"
    verbose_name = "Core"
