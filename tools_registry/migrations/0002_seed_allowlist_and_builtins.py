"""Seed the import allowlist and the built-in tool rows."""

from django.db import migrations

# A frozen copy of services.DEFAULT_ALLOWED_IMPORTS at the time of this migration.
DEFAULT_ALLOWED_IMPORTS = [
    "base64", "bisect", "calendar", "collections", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "enum", "fractions", "functools", "hashlib", "heapq", "html",
    "itertools", "json", "math", "operator", "queue", "random", "re", "stat", "statistics",
    "string", "textwrap", "time", "unicodedata", "uuid", "zoneinfo",
]


def seed(apps, schema_editor):
    AllowedImport = apps.get_model("tools_registry", "AllowedImport")
    Tool = apps.get_model("tools_registry", "Tool")
    if not AllowedImport.objects.exists():
        AllowedImport.objects.bulk_create(
            [AllowedImport(module=module) for module in DEFAULT_ALLOWED_IMPORTS]
        )
    # The catalog reads smolagents' classes; `manage.py tools_sync_builtins` reruns it.
    from tools_registry import builtins

    builtins.sync(Tool)


class Migration(migrations.Migration):
    dependencies = [("tools_registry", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
