"""Pruning the usage ledger's raw rows past the retention period; rollups stay."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from inference.models import UsageRecord
from usage.models import MINUTE, UsageRollup

# Rows deleted per transaction: short transactions, so that flushes never wait long.
PRUNE_BATCH = 10_000


@dataclass(frozen=True)
class Pruned:
    usage_records: int
    minute_rollups: int


def usage_prune(*, before: datetime, batch_size: int = PRUNE_BATCH) -> Pruned:
    """Delete the raw usage rows created before `before`, and the minute rollups of
    buckets starting before it, in transactions of `batch_size` rows.

    The hour and day rollups and the monthly spend are kept: the usage and costs API
    answers from them for any period, and at minute width only within the retention.
    """
    records = _delete_in_batches(
        UsageRecord.objects.filter(created_at__lt=before), batch_size
    )
    rollups = _delete_in_batches(
        UsageRollup.objects.filter(width=MINUTE, bucket_start__lt=before.timestamp()),
        batch_size,
    )
    return Pruned(usage_records=records, minute_rollups=rollups)


def _delete_in_batches(rows, batch_size: int) -> int:  # type: ignore[no-untyped-def]
    deleted = 0
    while True:  # bounded: each round deletes rows or ends the loop
        with transaction.atomic():
            ids = list(rows.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            deleted += rows.model._base_manager.filter(pk__in=ids).delete()[0]
