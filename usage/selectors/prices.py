"""Reading the prices of models."""

from django.db.models import QuerySet

from janserver.errors import NotFound
from orgs.models import Organization
from orgs.selectors import OrganizationAccess
from usage.models import ModelPrice


def price_list(*, organization: Organization | None) -> QuerySet[ModelPrice]:
    """Return the prices set for `organization` (None: the global prices), by model."""
    return ModelPrice.objects.filter(organization=organization).order_by(
        "created_at", "pk"
    )


def price_get_for_admin(*, access: OrganizationAccess, public_id: str) -> ModelPrice:
    """Return one of the caller's organization's prices; NotFound for any other id."""
    price = ModelPrice.objects.filter(
        organization=access.organization, public_id=public_id
    ).first()
    if price is None:
        raise NotFound(f"No price with id {public_id!r}.", param="price_id")
    return price


def price_get(*, public_id: str) -> ModelPrice:
    """Return any price by its id (operators: the admin, manage.py)."""
    price = ModelPrice.objects.filter(public_id=public_id).first()
    if price is None:
        raise NotFound(f"No price with id {public_id!r}.", param="price_id")
    return price
