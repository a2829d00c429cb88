"""The auction counter on AgentStats, and the achievements that read it (rules.py)."""

from django.db import migrations, models


def sync(apps, schema_editor):
    # As 0003: copy the rules' definitions (now with the auction achievements) into the table.
    from gamification.rules import ACHIEVEMENTS

    Achievement = apps.get_model("gamification", "Achievement")
    for position, rule in enumerate(ACHIEVEMENTS):
        Achievement.objects.update_or_create(
            code=rule.code,
            defaults={
                "name": rule.name,
                "description": rule.description,
                "icon": rule.icon,
                "position": position,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("gamification", "0004_stats_sort_indexes")]

    operations = [
        migrations.AddField(
            model_name="agentstats",
            name="auction_sales_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
