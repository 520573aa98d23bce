"""manage.py prune_usage and rebuild_usage_rollups: raw rows go, rollups stay."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from inference import usage as ledger
from inference.models import UsageRecord
from usage.models import DAY, HOUR, MINUTE, UsageRollup
from usage.selectors import month_spend
from usage.tests.factories import ModelPriceFactory, record_usage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_queue():
    ledger.reset_for_tests()
    yield
    ledger.reset_for_tests()


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_prune_deletes_old_raw_rows_and_minute_rollups_only(organization, settings):
    settings.USAGE_RETENTION_DAYS = 30
    now = timezone.now()
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    for at in (old, old, recent):
        record_usage(at=at, organization_id=organization.pk)
    ledger.flush()
    assert "Deleted 2 usage rows and 1 minute rollups" in run("prune_usage")
    assert [r.created_at for r in UsageRecord.objects.all()] == [recent]
    widths = sorted(
        UsageRollup.objects.filter(
            bucket_start__lt=(now - timedelta(days=30)).timestamp()
        ).values_list("width", flat=True)
    )
    assert widths == [HOUR, DAY]  # the old minute rollup went, hour and day stayed
    assert UsageRollup.objects.filter(width=MINUTE).count() == 1


def test_prune_in_small_batches_deletes_everything_old(organization):
    from usage.services import usage_prune

    old = timezone.now() - timedelta(days=10)
    for second in range(7):
        record_usage(
            at=old + timedelta(minutes=second), organization_id=organization.pk
        )
    ledger.flush()
    pruned = usage_prune(before=timezone.now(), batch_size=3)
    assert (pruned.usage_records, pruned.minute_rollups) == (7, 7)
    assert not UsageRecord.objects.exists()


def test_prune_respects_a_retention_of_zero_and_refuses_bad_days(settings):
    settings.USAGE_RETENTION_DAYS = 0
    assert "kept forever" in run("prune_usage")
    with pytest.raises(CommandError, match="at least 1"):
        run("prune_usage", "--days", "0")


def test_rebuild_prices_past_usage_with_todays_prices(organization, settings):
    """Usage recorded before its model had a price is priced by a rebuild."""
    settings.USAGE_RETENTION_DAYS = 90
    at = timezone.now() - timedelta(days=1)
    record_usage(
        at=at, organization_id=organization.pk, model="m", prompt_tokens=1_000_000
    )
    ledger.flush()
    assert month_spend(organization_id=organization.pk, at=at) == 0
    ModelPriceFactory(model="m", input_per_million="3", output_per_million="0")
    since = (at - timedelta(days=1)).date().isoformat()
    assert "Rebuilt the rollups" in run("rebuild_usage_rollups", "--since", since)
    assert month_spend(organization_id=organization.pk, at=at) == 3


def test_rebuild_refuses_days_past_the_retention_and_bad_dates(settings):
    settings.USAGE_RETENTION_DAYS = 30
    old = (timezone.now() - timedelta(days=31)).date().isoformat()
    with pytest.raises(CommandError, match="older than USAGE_RETENTION_DAYS"):
        run("rebuild_usage_rollups", "--since", old)
    with pytest.raises(CommandError, match="is not a date"):
        run("rebuild_usage_rollups", "--since", "yesterday")
    with pytest.raises(CommandError, match="must be after"):
        run("rebuild_usage_rollups", "--since", "2026-03-02", "--until", "2026-03-01")
