from django.apps import AppConfig
from django.core import checks


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from .checks import rate_limit_cache_shared

        checks.register(rate_limit_cache_shared, checks.Tags.caches)
