from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from agents import signals
        from agents.runtime import periodic

        from . import auctions, panels, receivers

        post_save.connect(
            receivers.user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="marketplace_wallet"
        )
        signals.agent_delete_check.connect(
            receivers.agent_delete_check, dispatch_uid="marketplace_delete_check"
        )
        signals.agent_deleting.connect(receivers.agent_deleting, dispatch_uid="marketplace_delete")
        signals.agent_transferred.connect(
            receivers.agent_transferred, dispatch_uid="marketplace_transfer_check"
        )
        panels.register()
        # Auctions end by themselves: every worker settles the due ones (DESIGN.md,
        # Time-driven work), well within the 10 s docs/API.md allows.
        periodic.register("auctions_settle", auctions.auctions_settle_due, every_seconds=2)
