import importlib

from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create demo data (users with known passwords, and whatever each app adds in its "
        "demo.py). Safe to run again: existing rows are kept."
    )

    def handle(self, *args, **options) -> None:
        # Each app may have a `demo` module with `seed(log)`; apps run in INSTALLED_APPS
        # order, so users exist before the agents and listings that belong to them.
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            self.stdout.write(self.style.MIGRATE_HEADING(f"{config.verbose_name}:"))
            module.seed(self.stdout.write)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Log in at http://127.0.0.1:8000/"))
