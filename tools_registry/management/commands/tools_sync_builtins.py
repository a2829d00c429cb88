from django.core.management.base import BaseCommand

from tools_registry.services import builtin_tools_sync


class Command(BaseCommand):
    help = (
        "Create or refresh the built-in tool rows from the installed smolagents (run after "
        "upgrading smolagents or installing a tool's extra package)."
    )

    def handle(self, *args, **options) -> None:
        for name in builtin_tools_sync():
            self.stdout.write(f"  built-in {name}")
