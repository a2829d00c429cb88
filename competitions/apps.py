from django.apps import AppConfig


class CompetitionsConfig(AppConfig):
    name = "competitions"
    verbose_name = "Competitions"

    def ready(self) -> None:
        from agents.runtime import periodic

        from . import judging, panels

        # Judging starts by itself at closes_at: every worker ticks the job; claims are
        # conditional updates, so each step happens once (docs/DESIGN.md, Time-driven work).
        periodic.register("competitions_judge", judging.competitions_judge, every_seconds=2)
        panels.register()
