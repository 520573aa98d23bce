"""Rebuilding the rollups of a range of days from the usage ledger's raw rows, in SQL:
the backfill of usage recorded before the rollups existed, and a repair after prices
were set for past usage."""

from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from inference.models import UsageRecord
from usage.models import (
    DAY,
    HOUR,
    MINUTE,
    TTFT_BOUNDS_MS,
    ModelPrice,
    MonthlySpend,
    UsageRollup,
)
from usage.services.rollups import ROLLUP_LOCK, ROLLUP_SUMS


def day_start(moment: datetime) -> datetime:
    """Return the start (UTC midnight) of the UTC day holding `moment`."""
    utc = moment.astimezone(UTC)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


@transaction.atomic
def usage_rollups_rebuild(*, since: datetime, until: datetime) -> int:
    """Recompute the rollups of the UTC days from `since`'s to the one before
    `until`'s from the raw usage rows, with today's prices, and the monthly spend of
    the months they touch; return how many minute rollups were written.

    Only for days whose raw rows are all still kept (see usage_prune): the rollups of
    the range are replaced. Flushes wait for the rebuild (PostgreSQL: an advisory
    lock), so that no batch is counted twice or lost.
    """
    start, end = int(day_start(since).timestamp()), int(day_start(until).timestamp())
    if end <= start:
        return 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        cursor.execute(
            f"DELETE FROM {_table(UsageRollup)} WHERE bucket_start >= %s AND bucket_start < %s",  # noqa: S608
            [start, end],
        )
        cursor.execute(
            _minutes_sql(),
            [
                datetime.fromtimestamp(start, UTC),
                datetime.fromtimestamp(end, UTC),
            ],
        )
        written = cursor.rowcount
        for width, finer in ((HOUR, MINUTE), (DAY, HOUR)):
            cursor.execute(_coarser_sql(width, finer), [start, end])
    _spend_rebuild(start, end)
    return written


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"
    return f"CAST(STRFTIME('%%s', {column}) AS INTEGER)"


def _month_of(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(TO_CHAR(TO_TIMESTAMP({column}) AT TIME ZONE 'UTC', 'YYYYMM') AS INTEGER)"
    return f"CAST(STRFTIME('%%Y%%m', {column}, 'unixepoch') AS INTEGER)"


def _ttft_sums(column: str) -> list[str]:
    sums = []
    lower = None
    for bound in TTFT_BOUNDS_MS:
        above = "" if lower is None else f" AND {column} > {lower}"
        sums.append(f"SUM(CASE WHEN {column} <= {bound}{above} THEN 1 ELSE 0 END)")
        lower = bound
    sums.append(f"SUM(CASE WHEN {column} > {lower} THEN 1 ELSE 0 END)")
    return sums


def _pico(column: str) -> str:
    return f"CAST(ROUND({column} * 1000000) AS BIGINT)"


def _minutes_sql() -> str:
    """INSERT the minute rollups of [%s, %s) from the raw rows (names from the models
    and fixed expressions only; the range comes as parameters)."""
    prices = _table(ModelPrice)
    minute = f"({_epoch('r.created_at')} / {MINUTE}) * {MINUTE}"
    dimensions = [
        "COALESCE(r.organization_id, 0)",
        "COALESCE(r.project_id, 0)",
        "COALESCE(r.api_key_id, 0)",
        "COALESCE(r.user_id, 0)",
        "COALESCE(r.provider_id, 0)",
        "r.model",
    ]
    input_price = _pico("COALESCE(own.input_per_million, common.input_per_million, 0)")
    output_price = _pico(
        "COALESCE(own.output_per_million, common.output_per_million, 0)"
    )
    values = [
        str(MINUTE),
        minute,
        *dimensions,
        "COUNT(*)",
        "SUM(CASE WHEN r.status IN ('client_error', 'upstream_error', 'rate_limited', "
        "'over_budget') THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN r.client_disconnected THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN r.status = 'rate_limited' OR (r.status = 'client_error' "
        "AND r.http_status = 429) THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN r.status = 'over_budget' THEN 1 ELSE 0 END)",
        "SUM(r.prompt_tokens)",
        "SUM(r.completion_tokens)",
        f"SUM(r.prompt_tokens) * MAX({input_price})",
        f"SUM(r.completion_tokens) * MAX({output_price})",
        "COUNT(r.time_to_first_token_ms)",
        "COALESCE(SUM(r.time_to_first_token_ms), 0)",
        *_ttft_sums("r.time_to_first_token_ms"),
    ]
    columns = _rollup_columns()
    return (
        f"INSERT INTO {_table(UsageRollup)} ({columns}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM {_table(UsageRecord)} r "
        f"LEFT JOIN {prices} own ON own.organization_id = r.organization_id "
        "AND own.model = r.model "
        f"LEFT JOIN {prices} common ON common.organization_id IS NULL "
        "AND common.model = r.model "
        "WHERE r.created_at >= %s AND r.created_at < %s "
        f"GROUP BY {minute}, {', '.join(dimensions)}"
    )


def _rollup_columns() -> str:
    quote = connection.ops.quote_name
    names = (
        "width",
        "bucket_start",
        "organization_id",
        "project_id",
        "api_key_id",
        "user_id",
        "provider_id",
        "model",
        *ROLLUP_SUMS,
    )
    return ", ".join(quote(name) for name in names)


def _coarser_sql(width: int, finer: int) -> str:
    """INSERT the rollups of `width` in [%s, %s) from those of the `finer` width."""
    dimensions = "organization_id, project_id, api_key_id, user_id, provider_id, model"
    bucket = f"(bucket_start / {width}) * {width}"
    sums = ", ".join(f"SUM({name})" for name in ROLLUP_SUMS)
    return (
        f"INSERT INTO {_table(UsageRollup)} ({_rollup_columns()}) "  # noqa: S608
        f"SELECT {width}, {bucket}, {dimensions}, {sums} "
        f"FROM {_table(UsageRollup)} WHERE width = {finer} "
        "AND bucket_start >= %s AND bucket_start < %s "
        f"GROUP BY {bucket}, {dimensions}"
    )


def _spend_rebuild(start: int, end: int) -> None:
    """Recompute the monthly spend of every month touching [start, end) from the day
    rollups (which cover the whole of each month)."""
    first = datetime.fromtimestamp(start, UTC).replace(day=1)
    last = datetime.fromtimestamp(end - 1, UTC)
    month_end = (last.replace(day=28) + timedelta(days=4)).replace(day=1)
    lower, upper = int(first.timestamp()), int(month_end.timestamp())
    months = (first.year * 100 + first.month, last.year * 100 + last.month)
    spend = _table(MonthlySpend)
    month = _month_of("bucket_start")
    cost = "SUM(input_cost + output_cost)"
    sums = f"SUM(requests), SUM(input_tokens), SUM(output_tokens), {cost}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {spend} WHERE month >= %s AND month <= %s",  # noqa: S608
            list(months),
        )
        for scope, column in (
            ("organization", "organization_id"),
            ("project", "project_id"),
            ("api_key", "api_key_id"),
        ):
            cursor.execute(
                f"INSERT INTO {spend} (scope, scope_id, month, organization_id, "  # noqa: S608
                "requests, input_tokens, output_tokens, cost) "
                f"SELECT %s, {column}, {month}, MAX(organization_id), {sums} "
                f"FROM {_table(UsageRollup)} WHERE width = %s AND bucket_start >= %s "
                f"AND bucket_start < %s AND {column} <> 0 AND organization_id <> 0 "
                f"GROUP BY {column}, {month}",
                [scope, DAY, lower, upper],
            )
