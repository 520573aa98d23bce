"""The usage and costs reports: buckets of time with their results, read from the
rollups (never from the raw usage rows)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from accounts.models import User
from janserver.errors import NotFound
from orgs.models import ApiKey, Organization, OrganizationMember, Project
from usage.models import PICO_PER_USD, UsageRollup

# A dimension of the usage API's group_by, and the rollup column holding it.
DIMENSION_COLUMNS = {
    "project_id": "project_id",
    "user_id": "user_id",
    "api_key_id": "api_key_id",
    "model": "model",
}
SUMMED = (
    "requests",
    "errors",
    "disconnects",
    "input_tokens",
    "output_tokens",
    "input_cost",
    "output_cost",
)


@dataclass(frozen=True)
class Filters:
    """What a report counts: internal ids (None: no filter on that dimension)."""

    project_ids: tuple[int, ...] | None = None
    user_ids: tuple[int, ...] | None = None
    api_key_ids: tuple[int, ...] | None = None
    models: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Window:
    """The buckets of one page: `count` buckets of `width` seconds from `start`."""

    width: int
    start: int
    count: int


@dataclass
class Row:
    """One result of a bucket: the grouped dimensions (public ids) and the sums."""

    dimensions: dict[str, Any]
    sums: dict[str, int]


@dataclass
class Bucket:
    start: int
    end: int
    rows: list[Row] = field(default_factory=list)


def usage_filters_resolve(
    *,
    organization: Organization,
    project_ids: Sequence[str] = (),
    user_ids: Sequence[str] = (),
    api_key_ids: Sequence[str] = (),
    models: Sequence[str] = (),
) -> Filters:
    """Return the filters of a report on `organization` from public ids.

    NotFound (404) names the first id that is not the organization's, unknown or
    another organization's alike.
    """
    return Filters(
        project_ids=_resolved(
            Project.objects.filter(organization=organization),
            project_ids,
            "project",
            "project_ids",
        ),
        user_ids=_resolved(
            User.objects.filter(
                pk__in=OrganizationMember.objects.filter(
                    organization=organization
                ).values("user_id")
            ),
            user_ids,
            "user",
            "user_ids",
        ),
        api_key_ids=_resolved(
            ApiKey.objects.filter(organization=organization),
            api_key_ids,
            "API key",
            "api_key_ids",
        ),
        models=tuple(dict.fromkeys(models)) or None,
    )


def _resolved(
    queryset: Any, public_ids: Sequence[str], kind: str, param: str
) -> tuple[int, ...] | None:
    if not public_ids:
        return None
    found = dict(
        queryset.filter(public_id__in=set(public_ids)).values_list("public_id", "pk")
    )
    for public_id in public_ids:
        if public_id not in found:
            raise NotFound(f"No {kind} with id {public_id!r}.", param=param)
    return tuple(sorted(set(found.values())))


def usage_buckets(
    *,
    organization: Organization,
    window: Window,
    group_by: Sequence[str],
    filters: Filters,
) -> list[Bucket]:
    """Return the page's buckets, each with one row per group that has usage.

    One aggregate query over the rollups of the window's width (the organization's
    rows of the window, by index), and one per grouped id kind to name the ids.
    """
    columns = [DIMENSION_COLUMNS[name] for name in group_by]
    end = window.start + window.width * window.count
    rollups = UsageRollup.objects.filter(
        organization_id=organization.pk,
        width=window.width,
        bucket_start__gte=window.start,
        bucket_start__lt=end,
    )
    rollups = _filtered(rollups, filters)
    aggregated = (
        rollups.values("bucket_start", *columns)
        .annotate(**{f"sum_{name}": Sum(name) for name in SUMMED})
        .order_by("bucket_start", *columns)
    )
    results = list(aggregated)
    names = _public_names(results, columns)
    buckets = {bucket.start: bucket for bucket in window_buckets(window)}
    for result in results:
        dimensions = {
            name: names.get((column, result[column]), result[column])
            for name, column in zip(group_by, columns, strict=True)
        }
        sums = {name: int(result[f"sum_{name}"] or 0) for name in SUMMED}
        buckets[result["bucket_start"]].rows.append(Row(dimensions, sums))
    return list(buckets.values())


def window_buckets(window: Window) -> list[Bucket]:
    """Return the window's buckets, empty."""
    end = window.start + window.width * window.count
    return [
        Bucket(start, start + window.width)
        for start in range(window.start, end, window.width)
    ]


def _filtered(rollups: Any, filters: Filters) -> Any:
    if filters.project_ids is not None:
        rollups = rollups.filter(project_id__in=filters.project_ids)
    if filters.user_ids is not None:
        rollups = rollups.filter(user_id__in=filters.user_ids)
    if filters.api_key_ids is not None:
        rollups = rollups.filter(api_key_id__in=filters.api_key_ids)
    if filters.models is not None:
        rollups = rollups.filter(model__in=filters.models)
    return rollups


ID_MODELS = {"project_id": Project, "api_key_id": ApiKey, "user_id": User}


def _public_names(
    results: Iterable[dict[str, Any]], columns: Sequence[str]
) -> dict[tuple[str, Any], str | None]:
    """Map (column, internal id) to the public id, and 0 (none) to None."""
    names: dict[tuple[str, Any], str | None] = {}
    for column in columns:
        if column not in ID_MODELS:
            continue
        ids = {result[column] for result in results}
        names[(column, 0)] = None
        found = ID_MODELS[column].objects.filter(pk__in=ids - {0})  # type: ignore[attr-defined]
        for pk, public_id in found.values_list("pk", "public_id"):
            names[(column, pk)] = public_id
        # A row deleted since (its usage kept): no public id to show.
        for pk in ids:
            names.setdefault((column, pk), None)
    return names


def usd(picodollars: int) -> Decimal:
    """Return picodollars as USD."""
    return Decimal(picodollars) / PICO_PER_USD
