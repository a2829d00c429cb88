from django.core.management.base import BaseCommand

from marketplace.services import rentals_cleanup


class Command(BaseCommand):
    help = "Delete expired rentals (their transactions keep the history). Safe to run any time."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Deleted {rentals_cleanup()} expired rental(s).")
