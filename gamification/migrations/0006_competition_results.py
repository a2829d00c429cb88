"""Competition results on AgentStats (wins, podiums), the podium XP kind keyed by
competition, and the `champion` achievement that reads the wins (rules.py)."""

from django.db import migrations, models


def sync(apps, schema_editor):
    # As 0003 and 0005: copy the rules' definitions (now with `champion`) into the table.
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
    dependencies = [
        ("agents", "0005_social_fields"),
        ("gamification", "0005_auction_achievements"),
    ]

    operations = [
        migrations.AddField(
            model_name="agentstats",
            name="competition_podiums",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="agentstats",
            name="competitions_won",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="experienceevent",
            name="competition_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="experienceevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("run", "Run"),
                    ("rating", "Rating"),
                    ("sale", "Sale"),
                    ("rental", "Rental"),
                    ("podium", "Podium"),
                ],
                max_length=10,
            ),
        ),
        migrations.AddConstraint(
            model_name="experienceevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("competition_id__isnull", False)),
                fields=("agent", "competition_id"),
                name="one_competition_award_per_agent",
            ),
        ),
        migrations.RunPython(sync, migrations.RunPython.noop),
    ]
