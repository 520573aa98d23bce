"""Build the rollups of the usage recorded before they existed (what 0002 did), or,
where they exist, count the rate-limited requests (new in 0003) of the raw usage rows
still kept. Costs are left as they were: a full rebuild would reprice past usage."""

from collections import Counter
from datetime import timedelta

from django.db import migrations
from django.utils import timezone

WIDTHS = (60, 3600, 86400)


def backfill(apps, schema_editor):
    from usage.services import usage_rollups_rebuild

    record = apps.get_model("inference", "UsageRecord")
    rollup = apps.get_model("usage", "UsageRollup")
    oldest = record.objects.order_by("created_at").values_list("created_at", flat=True)
    first = oldest.first()
    if first is None:
        return
    if not rollup.objects.exists():
        usage_rollups_rebuild(since=first, until=timezone.now() + timedelta(days=1))
        return
    refused = record.objects.filter(status="client_error", http_status=429)
    counts: Counter = Counter()
    columns = ("organization_id", "project_id", "api_key_id", "user_id", "provider_id")
    for row in refused.values_list("created_at", "model", *columns).iterator(2000):
        epoch = int(row[0].timestamp())
        dimensions = tuple(value or 0 for value in row[2:])
        for width in WIDTHS:
            counts[(width, epoch // width * width, row[1], *dimensions)] += 1
    for (width, bucket, model, *dimensions), count in counts.items():
        rollup.objects.filter(
            width=width,
            bucket_start=bucket,
            model=model,
            **dict(zip(columns, dimensions, strict=True)),
        ).update(rate_limited=count)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_rollup_rate_limited_dashboard"),
        ("inference", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
