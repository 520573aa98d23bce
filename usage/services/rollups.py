"""The rollups' incremental update: called in the transaction that writes a batch of
usage rows, so that the batch is counted in the rollups and the monthly spend exactly
once (a failed batch rolls back with its rollups; it is counted when it is written).
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models

from usage.models import (
    DAY,
    HOUR,
    MINUTE,
    TTFT_BOUNDS_MS,
    ModelPrice,
    MonthlySpend,
    SpendScope,
    UsageRollup,
)

# The advisory lock (PostgreSQL) that a rebuild takes exclusively and every flush
# shared, so that a rebuild never interleaves with a flush's updates.
ROLLUP_LOCK = 0x75736167  # "usag"
# Rows per upsert statement: far below both databases' parameter limits.
CHUNK = 500
# Requests refused at the admit step by the caller's own rate limits ("rate_limited")
# or budgets ("over_budget") count as errors too. An upstream's 429 is an upstream
# error. Rows written before the two were told apart say ("client_error", 429): they
# count as rate limited.
ERROR_STATUSES = frozenset(
    {"client_error", "upstream_error", "rate_limited", "over_budget"}
)
LEGACY_REFUSAL = ("client_error", 429)
TTFT_FIELDS = (*tuple(f"ttft_le_{bound}" for bound in TTFT_BOUNDS_MS), "ttft_slower")
ROLLUP_KEY = (
    "width",
    "bucket_start",
    "organization_id",
    "project_id",
    "api_key_id",
    "user_id",
    "provider_id",
    "model",
)
ROLLUP_SUMS = (
    "requests",
    "errors",
    "disconnects",
    "rate_limited",
    "over_budget",
    "input_tokens",
    "output_tokens",
    "input_cost",
    "output_cost",
    "ttft_count",
    "ttft_sum_ms",
    *TTFT_FIELDS,
)
SPEND_KEY = ("scope", "scope_id", "month")
SPEND_SUMS = ("organization_id", "requests", "input_tokens", "output_tokens", "cost")
SPEND_ADDED = ("requests", "input_tokens", "output_tokens", "cost")


@dataclass(frozen=True)
class Price:
    """A model's price in picodollars per token (USD per million x 10**6)."""

    input: int = 0
    output: int = 0


FREE = Price()


@dataclass
class _Sums:
    values: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, amount: float) -> None:
        self.values[name] = self.values.get(name, 0) + amount


def usage_rollups_add(*, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add usage rows (UsageRecord values by attname) to the rollups and monthly spend.

    Call inside the transaction that inserts the rows. Costs use the prices in force
    now (ModelPrice: the organization's own, else the global one, else free).
    """
    if not rows:
        return
    prices = prices_for(rows)
    rollups: dict[tuple[Any, ...], _Sums] = {}
    spend: dict[tuple[Any, ...], _Sums] = {}
    for row in rows:
        price = prices.get(
            (row.get("organization_id"), row["model"]),
            prices.get((None, row["model"]), FREE),
        )
        _add_row(rollups, spend, row, price)
    _lock_shared()
    _upsert(UsageRollup, ROLLUP_KEY, ROLLUP_SUMS, ROLLUP_SUMS, rollups)
    _upsert(MonthlySpend, SPEND_KEY, SPEND_SUMS, SPEND_ADDED, spend)


def prices_for(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[Any, str], Price]:
    """Return the prices of the rows' models: by (organization id, model), and by
    (None, model) for the global ones."""
    models_used = {row["model"] for row in rows}
    found = ModelPrice.objects.filter(model__in=models_used).values_list(
        "organization_id", "model", "input_per_million", "output_per_million"
    )
    return {
        (organization_id, model): Price(
            int(input_price * 10**6), int(output_price * 10**6)
        )
        for organization_id, model, input_price, output_price in found
    }


def _add_row(
    rollups: dict[tuple[Any, ...], _Sums],
    spend: dict[tuple[Any, ...], _Sums],
    row: Mapping[str, Any],
    price: Price,
) -> None:
    created: datetime = row["created_at"]
    epoch = int(created.timestamp())
    organization_id = row.get("organization_id") or 0
    dimensions = (
        organization_id,
        row.get("project_id") or 0,
        row.get("api_key_id") or 0,
        row.get("user_id") or 0,
        row.get("provider_id") or 0,
        row["model"],
    )
    counts = _counts(row, price)
    for width in (MINUTE, HOUR, DAY):
        sums = rollups.setdefault((width, epoch // width * width, *dimensions), _Sums())
        for name, amount in counts.items():
            sums.add(name, amount)
    if not organization_id:
        return
    month = _month(created)
    scopes = [(SpendScope.ORGANIZATION.value, organization_id)]
    if row.get("project_id"):
        scopes.append((SpendScope.PROJECT.value, row["project_id"]))
    if row.get("api_key_id"):
        scopes.append((SpendScope.API_KEY.value, row["api_key_id"]))
    for scope, scope_id in scopes:
        sums = spend.setdefault((scope, scope_id, month), _Sums())
        sums.values["organization_id"] = organization_id
        sums.add("requests", 1)
        sums.add("input_tokens", counts["input_tokens"])
        sums.add("output_tokens", counts["output_tokens"])
        sums.add("cost", counts["input_cost"] + counts["output_cost"])


def _counts(row: Mapping[str, Any], price: Price) -> dict[str, float]:
    input_tokens = int(row.get("prompt_tokens") or 0)
    output_tokens = int(row.get("completion_tokens") or 0)
    counts: dict[str, float] = {
        "requests": 1,
        "errors": int(row.get("status") in ERROR_STATUSES),
        "disconnects": int(bool(row.get("client_disconnected"))),
        "rate_limited": int(
            row.get("status") == "rate_limited"
            or (row.get("status"), row.get("http_status")) == LEGACY_REFUSAL
        ),
        "over_budget": int(row.get("status") == "over_budget"),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_cost": input_tokens * price.input,
        "output_cost": output_tokens * price.output,
    }
    ttft = row.get("time_to_first_token_ms")
    if ttft is not None:
        counts["ttft_count"] = 1
        counts["ttft_sum_ms"] = float(ttft)
        counts[ttft_field(float(ttft))] = 1
    return counts


def ttft_field(milliseconds: float) -> str:
    """Return the histogram field counting a time to first token of `milliseconds`."""
    for bound, name in zip(TTFT_BOUNDS_MS, TTFT_FIELDS, strict=False):
        if milliseconds <= bound:
            return name
    return TTFT_FIELDS[-1]


def _month(moment: datetime) -> int:
    utc = moment.astimezone(UTC)
    return utc.year * 100 + utc.month


def _lock_shared() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [ROLLUP_LOCK])


def _upsert(
    model: type[models.Model],
    key: tuple[str, ...],
    sums: tuple[str, ...],
    added: tuple[str, ...],
    groups: dict[tuple[Any, ...], _Sums],
) -> None:
    # Sorted by the unique key: concurrent flushes then lock the rows they share in
    # the same order and wait for each other instead of deadlocking.
    ordered = sorted(groups.items(), key=lambda item: item[0])
    columns = (*key, *sums)
    with connection.cursor() as cursor:
        for start in range(0, len(ordered), CHUNK):
            part = ordered[start : start + CHUNK]
            params = [
                value
                for group_key, group in part
                for value in (*group_key, *(group.values.get(name, 0) for name in sums))
            ]
            cursor.execute(_upsert_sql(model, columns, key, added, len(part)), params)


@functools.lru_cache(maxsize=64)
def _upsert_sql(
    model: type[models.Model],
    columns: tuple[str, ...],
    key: tuple[str, ...],
    added: tuple[str, ...],
    rows: int,
) -> str:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    row = f"({', '.join(['%s'] * len(columns))})"
    updates = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + EXCLUDED.{quote(name)}"
        for name in added
    )
    # Only names from the models and placeholders: no value is formatted in.
    return (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES {', '.join([row] * rows)} "
        f"ON CONFLICT ({', '.join(quote(c) for c in key)}) DO UPDATE SET {updates}"
    )
