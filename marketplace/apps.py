from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


def _user_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    # A signal is the one hook that every way of creating a user passes through (sign-up,
    # the admin, create_user/createsuperuser, factories, other apps' code), and API.md
    # promises a wallet "from the moment the user exists". The receiver only calls the
    # service; fixtures being loaded (raw) bring their own rows.
    if created and not raw:
        from .services import wallet_create

        wallet_create(user=instance)


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        post_save.connect(
            _user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="marketplace_wallet"
        )
