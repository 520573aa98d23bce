"""OpenAI's shapes of the usage and costs reports: pages of buckets of results."""

from collections.abc import Sequence
from typing import Any

from usage.selectors import Bucket, Row, usd

COMPLETIONS_RESULT = "organization.usage.completions.result"
COSTS_RESULT = "organization.costs.result"
# What janserver serves that OpenAI has dimensions for: no batch API, one tier, and
# every request is a direct API call.
FIXED_GROUPS = {"batch": False, "service_tier": "default", "api_source": "unlabeled"}
COMPLETIONS_GROUP_FIELDS = (
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    "api_source",
)
COSTS_GROUP_FIELDS = ("project_id", "user_id", "api_key_id", "line_item", "api_source")


def page_body(
    buckets: Sequence[Bucket],
    results: Sequence[list[dict[str, Any]]],
    next_page: str | None,
) -> dict[str, Any]:
    """Return OpenAI's page of buckets."""
    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": bucket.start,
                "end_time": bucket.end,
                "results": bucket_results,
            }
            for bucket, bucket_results in zip(buckets, results, strict=True)
        ],
        "has_more": next_page is not None,
        "next_page": next_page,
    }


def _groups(row: Row, group_by: Sequence[str], fields: Sequence[str]) -> dict[str, Any]:
    return {
        name: (
            (FIXED_GROUPS.get(name, row.dimensions.get(name)))
            if name in group_by
            else None
        )
        for name in fields
    }


def completions_results(
    bucket: Bucket, group_by: Sequence[str]
) -> list[dict[str, Any]]:
    """Return a bucket's completions results, one per group with requests."""
    return [
        {
            "object": COMPLETIONS_RESULT,
            "input_tokens": row.sums["input_tokens"],
            "output_tokens": row.sums["output_tokens"],
            "input_cached_tokens": 0,
            "input_audio_tokens": 0,
            "output_audio_tokens": 0,
            "num_model_requests": row.sums["requests"],
            **_groups(row, group_by, COMPLETIONS_GROUP_FIELDS),
        }
        for row in bucket.rows
        if row.sums["requests"]
    ]


def costs_results(
    bucket: Bucket, group_by: Sequence[str], line_items: Sequence[str]
) -> list[dict[str, Any]]:
    """Return a bucket's costs results: one per group, or per line item (`<model>,
    input` and `<model>, output`) with its token quantity when grouped by line_item.

    The bucket's rows are grouped by model besides `group_by` (to price line items).
    """
    wanted = set(line_items)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in bucket.rows:
        for kind in ("input", "output"):
            item = f"{row.dimensions['model']}, {kind}"
            if wanted and item not in wanted:
                continue
            quantity, cost = row.sums[f"{kind}_tokens"], row.sums[f"{kind}_cost"]
            if not quantity and not cost:
                continue
            groups = _groups(row, group_by, COSTS_GROUP_FIELDS)
            if "line_item" in group_by:
                groups["line_item"] = item
            key = tuple(groups.values())
            result = merged.setdefault(
                key, {"groups": groups, "cost": 0, "quantity": 0}
            )
            result["cost"] += cost
            result["quantity"] += quantity
    by_item = "line_item" in group_by
    return [
        {
            "object": COSTS_RESULT,
            "amount": {"value": float(usd(result["cost"])), "currency": "usd"},
            **result["groups"],
            "quantity": result["quantity"] if by_item else None,
            "quantity_unit": "tokens" if by_item else None,
        }
        for result in merged.values()
    ]
