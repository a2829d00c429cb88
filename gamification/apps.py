from django.apps import AppConfig


class GamificationConfig(AppConfig):
    name = "gamification"
    verbose_name = "Gamification"

    def ready(self) -> None:
        from agents import signals

        from . import panels, receivers

        signals.agent_created.connect(receivers.agent_created, dispatch_uid="gamification_stats")
        signals.run_finished.connect(receivers.run_finished, dispatch_uid="gamification_run")
        panels.register()
