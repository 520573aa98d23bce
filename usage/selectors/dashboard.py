"""The figures of the admin's usage dashboard: an organization's usage in a window of
time, by bucket, by model and provider, by project and by key, read from the rollups
(never from the raw usage rows)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from orgs.models import ApiKey, Organization, Project
from usage.models import DAY, HOUR, MINUTE, PICO_PER_USD, TTFT_BOUNDS_MS, UsageRollup
from usage.services.rollups import TTFT_FIELDS

# Columns summed for every figure.
FIGURES = (
    "requests",
    "errors",
    "rate_limited",
    "over_budget",
    "disconnects",
    "input_tokens",
    "output_tokens",
    "input_cost",
    "output_cost",
    "ttft_count",
    *TTFT_FIELDS,
)
# How many projects and keys the dashboard ranks.
TOP = 10
# The longest window the dashboard reads (day buckets).
MAX_DAYS = 366


@dataclass(frozen=True)
class Span:
    """A window of time cut in buckets: [start, end) in Unix seconds, `width` wide."""

    start: int
    end: int
    width: int

    @property
    def count(self) -> int:
        return (self.end - self.start) // self.width

    @property
    def start_at(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)

    def bucket_starts(self) -> range:
        return range(self.start, self.end, self.width)


def span_last(*, seconds: int, now: datetime) -> Span:
    """Return the window of the last `seconds` up to `now`: whole buckets, the last
    one holding `now` (minutes up to 3 hours, hours up to 3 days, days beyond)."""
    width = _width_for(seconds)
    end = (int(now.timestamp()) // width + 1) * width
    return Span(end - seconds // width * width, end, width)


def span_days(*, since: date, until: date) -> Span:
    """Return the window of the UTC days `since` to `until`, both included (hours for
    up to 3 days, days beyond)."""
    start = int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp())
    last = datetime(until.year, until.month, until.day, tzinfo=UTC)
    end = int((last + timedelta(days=1)).timestamp())
    return Span(start, end, _width_for(end - start))


def _width_for(seconds: int) -> int:
    if seconds <= 3 * HOUR:
        return MINUTE
    if seconds <= 3 * DAY:
        return HOUR
    return DAY


@dataclass(frozen=True)
class Quantile:
    """A time to first token estimated from the histogram, in ms; `over` when it is
    past the last bound (only known to be slower than `ms`)."""

    ms: float
    over: bool = False

    def __str__(self) -> str:
        return f"> {self.ms:,.0f} ms" if self.over else f"{self.ms:,.0f} ms"


def ttft_quantile(histogram: list[int], q: float) -> Quantile | None:
    """Return the q-quantile (0 < q < 1) of a TTFT histogram (counts per bucket of
    TTFT_BOUNDS_MS, then the slower ones), or None when it counts nothing.

    Linear within the bucket holding the rank, as Prometheus's histogram_quantile.
    """
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen, lower = 0, 0.0
    for bound, count in zip(TTFT_BOUNDS_MS, histogram, strict=False):
        if count and seen + count >= rank:
            return Quantile(lower + (bound - lower) * (rank - seen) / count)
        seen += count
        lower = float(bound)
    return Quantile(float(TTFT_BOUNDS_MS[-1]), over=True)


@dataclass
class Figures:
    """Sums of rollups: requests, errors (429s included), requests refused by rate
    limits or budgets (429), disconnects, tokens, cost and the TTFT histogram."""

    sums: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))

    def add(self, values: Mapping[str, Any]) -> None:
        for name in FIGURES:
            self.sums[name] += int(values.get(name) or 0)

    def __getattr__(self, name: str) -> int:
        if name in FIGURES:
            return self.sums[name]
        raise AttributeError(name)

    @property
    def refused(self) -> int:
        """Requests refused with 429 by the rate limits or the budgets."""
        return self.sums["rate_limited"] + self.sums["over_budget"]

    @property
    def other_errors(self) -> int:
        return (
            self.sums["errors"] - self.sums["rate_limited"] - self.sums["over_budget"]
        )

    @property
    def error_rate(self) -> float:
        return self.sums["errors"] / self.sums["requests"] if self.requests else 0.0

    @property
    def error_percent(self) -> float:
        return 100 * self.error_rate

    @property
    def cost(self) -> Decimal:
        picodollars = self.sums["input_cost"] + self.sums["output_cost"]
        return Decimal(picodollars) / PICO_PER_USD

    @property
    def ttft_p50(self) -> Quantile | None:
        return ttft_quantile([self.sums[name] for name in TTFT_FIELDS], 0.5)

    @property
    def ttft_p95(self) -> Quantile | None:
        return ttft_quantile([self.sums[name] for name in TTFT_FIELDS], 0.95)


@dataclass
class Named:
    """Figures of one project, key, model or provider: `ref` is its internal id (0:
    none) or model id, `obj` the row when it still exists."""

    ref: Any
    figures: Figures
    obj: Any = None
    model: str = ""


@dataclass
class Dashboard:
    span: Span
    total: Figures
    buckets: list[tuple[datetime, Figures]]
    by_model_provider: list[Named]
    by_provider: dict[int, Figures]
    top_projects: list[Named]
    top_keys: list[Named]


def _sums() -> dict[str, Sum]:
    return {name: Sum(name) for name in FIGURES}


def _rollups(organization_id: int, span: Span, **filters: int) -> Any:
    return UsageRollup.objects.filter(
        organization_id=organization_id,
        width=span.width,
        bucket_start__gte=span.start,
        bucket_start__lt=span.end,
        **filters,
    )


def usage_series(
    *,
    organization_id: int,
    span: Span,
    project_id: int | None = None,
    api_key_id: int | None = None,
) -> list[tuple[datetime, Figures]]:
    """Return the figures of each bucket of `span` (empty ones included) for an
    organization, or one of its projects or keys; one query."""
    filters = {"project_id": project_id, "api_key_id": api_key_id}
    rollups = _rollups(
        organization_id,
        span,
        **{name: value for name, value in filters.items() if value is not None},
    )
    series = {start: Figures() for start in span.bucket_starts()}
    for row in rollups.values("bucket_start").annotate(**_sums()).order_by():
        series[row["bucket_start"]].add(row)
    return [
        (datetime.fromtimestamp(start, UTC), figures)
        for start, figures in series.items()
    ]


def usage_dashboard(*, organization: Organization, span: Span) -> Dashboard:
    """Return the organization's dashboard figures for `span`: five aggregate queries
    over its rollups (by index) and two to name its projects and keys."""
    rollups = _rollups(organization.pk, span)
    buckets = usage_series(organization_id=organization.pk, span=span)
    total = Figures()
    for _, figures in buckets:
        total.add(figures.sums)
    by_model_provider = [
        Named(row["provider_id"], _figures(row), model=row["model"])
        for row in rollups.values("model", "provider_id")
        .annotate(**_sums())
        .order_by("-requests", "model", "provider_id")
    ]
    by_provider: dict[int, Figures] = {}
    for named in by_model_provider:
        by_provider.setdefault(named.ref, Figures()).add(named.figures.sums)
    return Dashboard(
        span=span,
        total=total,
        buckets=buckets,
        by_model_provider=by_model_provider,
        by_provider=by_provider,
        top_projects=_top(rollups, "project_id", Project, organization),
        top_keys=_top(rollups, "api_key_id", ApiKey, organization),
    )


def _figures(values: Mapping[str, Any]) -> Figures:
    figures = Figures()
    figures.add(values)
    return figures


def _top(rollups: Any, column: str, model: Any, organization: Organization) -> list:
    ranked = list(
        rollups.values(column).annotate(**_sums()).order_by("-requests", column)[:TOP]
    )
    ids = {row[column] for row in ranked} - {0}
    # Only the organization's own rows: an id is never named from another tenant.
    found = model.objects.filter(organization=organization, pk__in=ids)
    objects = {obj.pk: obj for obj in _with_project(found, model)}
    return [
        Named(row[column], _figures(row), objects.get(row[column])) for row in ranked
    ]


def _with_project(found: Any, model: Any) -> Iterable[Any]:
    return found.select_related("project") if model is ApiKey else found
