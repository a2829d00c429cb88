from django.core.management.base import BaseCommand

from marketplace.services import purchases_settle


class Command(BaseCommand):
    help = (
        "Finish the activity log, stats, XP and achievements of purchases whose after-commit "
        "step failed or never ran (a crash). Exactly once per purchase; safe to run any time."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Settled {purchases_settle()} purchase(s).")
