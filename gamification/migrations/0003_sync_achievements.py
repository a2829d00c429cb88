"""Copy the achievement definitions (gamification.rules.ACHIEVEMENTS) into their table."""

from django.db import migrations


def sync(apps, schema_editor):
    # The rules module is plain data with no model imports; achievements_sync() in
    # services reruns the same copy (tests flush tables, new rules ship later).
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
    dependencies = [("gamification", "0002_ratings_achievements_xp")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
