"""Build the rollups of the usage recorded before they existed (free of charge: no
price is set yet). Later gaps: `manage.py rebuild_usage_rollups`."""

from datetime import timedelta

from django.db import migrations
from django.utils import timezone


def backfill(apps, schema_editor):
    from usage.services import usage_rollups_rebuild

    record = apps.get_model("inference", "UsageRecord")
    oldest = record.objects.order_by("created_at").values_list("created_at", flat=True)
    first = oldest.first()
    if first is not None:
        usage_rollups_rebuild(since=first, until=timezone.now() + timedelta(days=1))


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0001_initial"),
        ("inference", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
