from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from agents import signals

        from . import panels, receivers

        post_save.connect(
            receivers.user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="marketplace_wallet"
        )
        signals.agent_delete_check.connect(
            receivers.agent_delete_check, dispatch_uid="marketplace_delete_check"
        )
        signals.agent_deleting.connect(receivers.agent_deleting, dispatch_uid="marketplace_delete")
        panels.register()
