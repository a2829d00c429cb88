"""Users created before the marketplace existed get their wallet and signup credits too."""

from decimal import Decimal

from django.conf import settings
from django.db import migrations


def create_wallets(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Wallet = apps.get_model("marketplace", "Wallet")
    LedgerEntry = apps.get_model("marketplace", "LedgerEntry")
    bonus = Decimal(settings.SIGNUP_CREDITS).quantize(Decimal("0.01"))
    for user in User.objects.filter(wallet__isnull=True).iterator():
        wallet = Wallet.objects.create(user=user, balance=bonus if bonus > 0 else Decimal(0))
        if bonus > 0:
            LedgerEntry.objects.create(
                wallet=wallet, amount=bonus, kind="signup_bonus", note="Welcome credits"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(create_wallets, migrations.RunPython.noop)]
