"""What an organization, a project or an API key spent in a calendar month."""

from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone

from usage.models import PICO_PER_USD, MonthlySpend, SpendScope


def month_of(moment: datetime) -> int:
    """Return the calendar month (UTC) holding `moment`, as yyyymm."""
    utc = moment.astimezone(UTC)
    return utc.year * 100 + utc.month


def month_spend(
    *,
    organization_id: int,
    project_id: int | None = None,
    api_key_id: int | None = None,
    at: datetime | None = None,
) -> Decimal:
    """Return the USD spent in the calendar month (UTC) holding `at` (default: now)
    by the API key if given, else the project if given, else the organization.

    One query by a unique key. Counts the usage rows written so far: a request's
    usage is written at most USAGE_FLUSH_SECONDS after it ended (see
    inference.usage), and is priced when written.
    """
    if api_key_id is not None:
        scope, scope_id = SpendScope.API_KEY, api_key_id
    elif project_id is not None:
        scope, scope_id = SpendScope.PROJECT, project_id
    else:
        scope, scope_id = SpendScope.ORGANIZATION, organization_id
    month = month_of(at or timezone.now())
    picodollars = (
        MonthlySpend.objects.filter(
            scope=scope,
            scope_id=scope_id,
            month=month,
            organization_id=organization_id,
        )
        .values_list("cost", flat=True)
        .first()
    )
    return Decimal(picodollars or 0) / PICO_PER_USD
