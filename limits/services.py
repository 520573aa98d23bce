"""Writing rate limits: every write is validated here and broadcast to every process."""

from typing import Any

from django.db import transaction

from janserver.errors import InvalidRequest
from limits import rules
from limits.models import LIMIT_FIELDS, RateLimit
from orgs.models import ApiKey, ApiKeyKind, Organization, Project

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
    limits: dict[str, Any],
) -> RateLimit:
    """Set the given limits of one scope and model (others keep their values);
    create the row when there is none. Fields absent from `limits` are unchanged."""
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
    if len(model) > 200:
        raise InvalidRequest("`model` is at most 200 characters.", param="model")
    values = {name: limit_value(name, value) for name, value in limits.items()}
    row, _created = RateLimit.objects.select_for_update().get_or_create(
        organization=organization, project=project, api_key=api_key, model=model
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
