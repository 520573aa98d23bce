"""Reads of the usage app: prices, monthly spend, and the usage and costs reports."""

from usage.selectors.prices import price_get, price_get_for_admin, price_list
from usage.selectors.reports import (
    Bucket,
    Filters,
    Row,
    Window,
    usage_buckets,
    usage_filters_resolve,
    usd,
    window_buckets,
)
from usage.selectors.spend import month_of, month_spend

__all__ = [
    "Bucket",
    "Filters",
    "Row",
    "Window",
    "month_of",
    "month_spend",
    "price_get",
    "price_get_for_admin",
    "price_list",
    "usage_buckets",
    "usage_filters_resolve",
    "usd",
    "window_buckets",
]
