"""The rollups and monthly spend follow the usage ledger's writes, exactly once."""

import importlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.apps import apps as django_apps
from django.db import OperationalError

from inference import usage as ledger
from inference.models import UsageRecord, UsageStatus
from orgs.services import api_key_create
from usage.models import DAY, HOUR, MINUTE, MonthlySpend, UsageRollup
from usage.selectors import month_spend
from usage.services import usage_rollups_rebuild
from usage.tests.factories import ModelPriceFactory, record_usage

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 3, 14, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_queue():
    ledger.reset_for_tests()
    yield
    ledger.reset_for_tests()


@pytest.fixture
def key(project_key):
    return project_key[0]


def scoped(key, **fields):
    return {
        "organization_id": key.organization_id,
        "project_id": key.project_id,
        "api_key_id": key.pk,
        "user_id": key.owner_id,
        **fields,
    }


def rollup_sums(width):
    return list(
        UsageRollup.objects.filter(width=width)
        .order_by("bucket_start", "model")
        .values_list(
            "bucket_start", "model", "requests", "input_tokens", "output_tokens"
        )
    )


def test_a_flushed_batch_lands_in_minute_hour_and_day_rollups(key):
    """Three requests in two minutes of one hour: two minute buckets, one hour, one day."""
    for second in (0, 20, 70):
        record_usage(at=NOON.replace(second=0) + _seconds(second), **scoped(key))
    ledger.flush()
    minute = int(NOON.replace(second=0).timestamp())
    assert rollup_sums(MINUTE) == [
        (minute, "jan-v1-4b", 2, 20, 40),
        (minute + 60, "jan-v1-4b", 1, 10, 20),
    ]
    hour = int(NOON.replace(minute=0, second=0).timestamp())
    assert rollup_sums(HOUR) == [(hour, "jan-v1-4b", 3, 30, 60)]
    day = int(NOON.replace(hour=0, minute=0, second=0).timestamp())
    assert rollup_sums(DAY) == [(day, "jan-v1-4b", 3, 30, 60)]


def _seconds(count):
    return timedelta(seconds=count)


def test_costs_use_the_organizations_price_over_the_global_one(key, organization):
    """1M input + 1M output tokens: global $1/$2 for one model, $0.5/$0.25 own price
    for the other."""
    ModelPriceFactory(model="shared", input_per_million="1", output_per_million="2")
    ModelPriceFactory(model="own", input_per_million="9", output_per_million="9")
    ModelPriceFactory(
        model="own",
        organization=organization,
        input_per_million="0.5",
        output_per_million="0.25",
    )
    for model in ("shared", "own", "unpriced"):
        record_usage(
            at=NOON,
            model=model,
            prompt_tokens=1_000_000,
            completion_tokens=1_000_000,
            **scoped(key),
        )
    ledger.flush()
    costs = dict(
        UsageRollup.objects.filter(width=DAY).values_list("model", "input_cost")
    )
    assert costs == {"shared": 10**12, "own": 5 * 10**11, "unpriced": 0}
    assert month_spend(organization_id=organization.pk, at=NOON) == Decimal("3.75")


def test_month_spend_by_key_project_and_organization_and_month(key, organization):
    """Spend is per scope and per calendar month (UTC); another month is separate."""
    ModelPriceFactory(model="m", input_per_million="1", output_per_million="1")
    other_key, _ = api_key_create(
        kind="project",
        organization=organization,
        project=key.project,
        owner=key.owner,
    )
    record_usage(
        at=NOON, model="m", prompt_tokens=500_000, completion_tokens=0, **scoped(key)
    )
    record_usage(
        at=NOON,
        model="m",
        prompt_tokens=250_000,
        completion_tokens=0,
        **scoped(other_key),
    )
    record_usage(
        at=datetime(2026, 4, 1, tzinfo=UTC),
        model="m",
        prompt_tokens=1_000_000,
        completion_tokens=0,
        **scoped(key),
    )
    ledger.flush()
    org = organization.pk
    assert month_spend(organization_id=org, at=NOON) == Decimal("0.75")
    assert month_spend(
        organization_id=org, project_id=key.project_id, at=NOON
    ) == Decimal("0.75")
    assert month_spend(organization_id=org, api_key_id=key.pk, at=NOON) == Decimal(
        "0.5"
    )
    assert month_spend(
        organization_id=org, api_key_id=other_key.pk, at=NOON
    ) == Decimal("0.25")
    april = datetime(2026, 4, 30, 23, 59, tzinfo=UTC)
    assert month_spend(organization_id=org, at=april) == Decimal("1")
    assert month_spend(organization_id=org, at=datetime(2026, 5, 1, tzinfo=UTC)) == 0


def test_month_spend_is_one_query(key, organization, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert month_spend(organization_id=organization.pk, api_key_id=key.pk) == 0


def test_a_failed_batch_retried_is_counted_once(key):
    """The rollup update fails: the batch's rows and rollups roll back together, stay
    queued, and the retry counts them once."""
    for _ in range(3):
        record_usage(at=NOON, **scoped(key))
    with mock.patch(
        "usage.services.rollups._upsert", side_effect=OperationalError("down")
    ):
        assert ledger.flush() == 0
    assert UsageRecord.objects.count() == 0
    assert UsageRollup.objects.count() == 0
    assert ledger.pending_count() == 3
    assert ledger.flush() == 3
    assert rollup_sums(DAY)[0][2:] == (3, 30, 60)
    spend = MonthlySpend.objects.get(scope="api_key", scope_id=key.pk)
    assert spend.requests == 3


def test_rows_stored_one_by_one_count_only_the_stored_ones(key):
    """A row the database refuses is dropped; the rollups count the others."""
    record_usage(at=NOON, **scoped(key))
    record_usage(at=NOON, **scoped(key), prompt_tokens=-1)  # PositiveIntegerField
    record_usage(at=NOON, **scoped(key))
    ledger.flush()
    assert UsageRecord.objects.count() == 2
    assert rollup_sums(DAY)[0][2:] == (2, 20, 40)


def test_errors_disconnects_and_time_to_first_token_are_counted(key):
    record_usage(at=NOON, **scoped(key), time_to_first_token_ms=80.0)
    record_usage(at=NOON, **scoped(key), time_to_first_token_ms=300.0)
    record_usage(
        at=NOON,
        **scoped(key),
        status=UsageStatus.UPSTREAM_ERROR,
        http_status=502,
    )
    record_usage(
        at=NOON,
        **scoped(key),
        status=UsageStatus.DISCONNECTED,
        client_disconnected=True,
        time_to_first_token_ms=20000.0,
    )
    ledger.flush()
    day = UsageRollup.objects.get(width=DAY)
    assert (day.requests, day.errors, day.disconnects) == (4, 1, 1)
    assert (day.ttft_count, day.ttft_sum_ms) == (3, 20380.0)
    assert (day.ttft_le_100, day.ttft_le_500, day.ttft_slower) == (1, 1, 1)


def test_a_rebuild_reproduces_what_the_flushes_built(key, organization):
    """Rebuilt from the raw rows, the rollups and the spend equal the incremental ones."""
    ModelPriceFactory(model="m", input_per_million="0.3", output_per_million="1.1")
    for index in range(6):
        record_usage(
            at=NOON + _seconds(index * 1900),
            model="m" if index % 2 else "free",
            **scoped(key, time_to_first_token_ms=50.0 * index),
        )
    record_usage(at=NOON, organization_id=organization.pk, model="m")  # no project
    ledger.flush()

    def snapshot():
        rollups = sorted(
            UsageRollup.objects.values_list(
                "width",
                "bucket_start",
                "project_id",
                "api_key_id",
                "model",
                "requests",
                "input_cost",
                "output_cost",
                "ttft_count",
                "ttft_le_250",
            )
        )
        spend = sorted(
            MonthlySpend.objects.values_list("scope", "scope_id", "month", "cost")
        )
        return rollups, spend

    before = snapshot()
    UsageRollup.objects.update(requests=999)
    MonthlySpend.objects.all().delete()
    assert usage_rollups_rebuild(since=NOON, until=NOON + _seconds(86400)) == 7
    assert snapshot() == before


def test_requests_refused_by_limits_or_budgets_are_counted_apart(key):
    """A 429 of the caller's own rate limits counts in rate_limited and errors, one of
    its budgets in over_budget and errors, an upstream's 429 (an upstream error) only
    in errors; a row written before the two were told apart (a client error with
    429) counts as rate limited. A rebuild from the raw rows agrees."""
    record_usage(at=NOON, **scoped(key))
    record_usage(
        at=NOON, **scoped(key), status=UsageStatus.RATE_LIMITED, http_status=429
    )
    record_usage(
        at=NOON, **scoped(key), status=UsageStatus.CLIENT_ERROR, http_status=429
    )
    for _ in range(3):
        record_usage(
            at=NOON, **scoped(key), status=UsageStatus.OVER_BUDGET, http_status=429
        )
    record_usage(
        at=NOON, **scoped(key), status=UsageStatus.UPSTREAM_ERROR, http_status=429
    )
    ledger.flush()
    counted = ("requests", "errors", "rate_limited", "over_budget")
    expected = [(width, 7, 6, 2, 3) for width in (MINUTE, HOUR, DAY)]
    assert sorted(UsageRollup.objects.values_list("width", *counted)) == expected
    UsageRollup.objects.update(rate_limited=0, over_budget=0, errors=0)
    usage_rollups_rebuild(since=NOON, until=NOON + _seconds(86400))
    assert sorted(UsageRollup.objects.values_list("width", *counted)) == expected


def test_the_migration_counts_the_refusals_of_existing_rollups(key):
    """0004 fills rate_limited of rollups built before it from the raw rows, and
    leaves their costs alone."""
    migration = importlib.import_module("usage.migrations.0004_backfill_rate_limited")
    ModelPriceFactory(model="jan-v1-4b", input_per_million="1", output_per_million="1")
    record_usage(at=NOON, **scoped(key))
    record_usage(
        at=NOON, **scoped(key), status=UsageStatus.CLIENT_ERROR, http_status=429
    )
    ledger.flush()
    UsageRollup.objects.update(rate_limited=0, input_cost=7)
    migration.backfill(django_apps, None)
    assert sorted(
        UsageRollup.objects.values_list("width", "rate_limited", "input_cost")
    ) == [(MINUTE, 1, 7), (HOUR, 1, 7), (DAY, 1, 7)]
