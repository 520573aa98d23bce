"""Writing rate limits: every write is validated here and broadcast to every process."""

import logging
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.mail import send_mail
from django.db import transaction

from janserver.errors import InvalidRequest
from limits import rules
from limits.models import LIMIT_FIELDS, Budget, RateLimit
from limits.rules import NANO_PER_USD
from orgs.models import (
    ApiKey,
    ApiKeyKind,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Project,
)

logger = logging.getLogger("janserver.limits")

MAX_LIMIT = 2**53 - 1


def limit_value(name: str, value: Any) -> int | None:
    """A limit as given: a whole number ≥ 0 (0 blocks), or None (no limit);
    InvalidRequest naming the field otherwise (strings, fractions, negatives)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(
            f"`{name}` must be a whole number of 0 or more, or null for no limit.",
            param=name,
        )
    if isinstance(value, float) and not value.is_integer():
        raise InvalidRequest(f"`{name}` must be a whole number.", param=name)
    if not 0 <= value <= MAX_LIMIT:
        raise InvalidRequest(
            f"`{name}` must be between 0 and {MAX_LIMIT} (0 blocks the scope).",
            param=name,
        )
    return int(value)


@transaction.atomic
def rate_limit_set(
    *,
    organization: Organization,
    project: Project | None = None,
    api_key: ApiKey | None = None,
    model: str = "",
    per_user: bool = False,
    limits: dict[str, Any],
) -> RateLimit:
    """Set the given limits of one scope and model (others keep their values);
    create the row when there is none. Fields absent from `limits` are unchanged.
    `per_user`: limits each login user of the organization has of their own."""
    unknown = sorted(set(limits) - set(LIMIT_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"Unknown limit `{unknown[0]}`; limits are {', '.join(LIMIT_FIELDS)}.",
            param=unknown[0],
        )
    if api_key is not None:
        if api_key.kind != ApiKeyKind.PROJECT:
            raise InvalidRequest("Only project API keys have limits.", param="api_key")
        project = api_key.project
    if project is not None and project.organization_id != organization.pk:
        raise InvalidRequest("The project is not in this organization.")
    if per_user and project is not None:
        raise InvalidRequest(
            "Per-user limits are set on an organization, not a project or key.",
            param="per_user",
        )
    if len(model) > 200:
        raise InvalidRequest("`model` is at most 200 characters.", param="model")
    values = {name: limit_value(name, value) for name, value in limits.items()}
    row, _created = RateLimit.objects.select_for_update().get_or_create(
        organization=organization,
        project=project,
        api_key=api_key,
        model=model,
        per_user=per_user,
    )
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    rules.invalidate()
    return row


@transaction.atomic
def rate_limit_delete(*, rate_limit: RateLimit) -> None:
    rate_limit.delete()
    rules.invalidate()


def budget_value(name: str, value: Any) -> Decimal | None:
    """A budget amount in USD: a number ≥ 0 with at most 2 decimals, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise InvalidRequest(f"`{name}` must be an amount in USD, or null.", param=name)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(
            f"`{name}` must be an amount in USD.", param=name
        ) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 12:
        raise InvalidRequest(
            f"`{name}` must be between 0 and 999,999,999,999.99 USD.", param=name
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidRequest(f"`{name}` has at most 2 decimals (cents).", param=name)
    return amount


@transaction.atomic
def budget_set(
    *,
    organization: Organization,
    project: Project | None = None,
    api_key: ApiKey | None = None,
    amounts: dict[str, Any],
) -> Budget:
    """Set a scope's monthly cap and alert threshold (absent fields keep theirs)."""
    unknown = sorted(set(amounts) - {"monthly_limit_usd", "alert_threshold_usd"})
    if unknown:
        raise InvalidRequest(f"Unknown budget field `{unknown[0]}`.", param=unknown[0])
    if api_key is not None:
        if api_key.kind != ApiKeyKind.PROJECT:
            raise InvalidRequest("Only project API keys have budgets.", param="api_key")
        project = api_key.project
    if project is not None and project.organization_id != organization.pk:
        raise InvalidRequest("The project is not in this organization.")
    values = {name: budget_value(name, value) for name, value in amounts.items()}
    budget, _created = Budget.objects.select_for_update().get_or_create(
        organization=organization, project=project, api_key=api_key
    )
    for name, value in values.items():
        setattr(budget, name, value)
    budget.save()
    rules.invalidate()
    return budget


@transaction.atomic
def budget_delete(*, budget: Budget) -> None:
    budget.delete()
    rules.invalidate()


def budget_alert(*, budget_id: int, month: date, spent: int) -> bool:
    """E-mail the organization's owners that a budget's alert threshold is reached:
    once per budget and month, whichever process asks first. Returns whether this
    call sent it."""
    claimed = (
        Budget.objects.filter(pk=budget_id)
        .exclude(alerted_month=month)
        .update(alerted_month=month)
    )
    if not claimed:
        return False
    rules.invalidate()
    budget = Budget.objects.select_related("organization", "project", "api_key").get(
        pk=budget_id
    )
    owners = list(
        OrganizationMember.objects.filter(
            organization=budget.organization, role=OrganizationRole.OWNER
        ).values_list("user__email", flat=True)
    )
    if not owners:
        return True
    scope = budget.api_key or budget.project or budget.organization
    usd = Decimal(spent) / NANO_PER_USD
    send_mail(
        subject=f"janserver: {scope} reached its budget alert",
        message=(
            f"{budget} has spent ${usd:,.2f} in {month:%B %Y} (UTC), reaching its "
            f"alert threshold of ${budget.alert_threshold_usd:,.2f}"
            + (
                f"; its monthly cap is ${budget.monthly_limit_usd:,.2f}."
                if budget.monthly_limit_usd is not None
                else "."
            )
        ),
        from_email=None,
        recipient_list=owners,
        fail_silently=True,
    )
    logger.info("Budget alert sent for %s to %d owners", budget, len(owners))
    return True
