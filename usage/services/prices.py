"""Setting and removing the prices of models."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction

from janserver.errors import InvalidRequest
from orgs.models import Organization
from usage.models import PRICE_DECIMALS, ModelPrice

MAX_PRICE = Decimal("999999.999999")  # what max_digits=12, decimal_places=6 holds


def price_parse(value: Any, *, param: str) -> Decimal:
    """Return a price (USD per million tokens) from a number or a decimal string.

    InvalidRequest names `param` for anything else: a negative, a non-number, NaN or
    infinity, more than 6 decimals, or more than 999999.999999.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidRequest(f"{param} must be a number.", param=param)
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidRequest(f"{param} must be a number.", param=param) from None
    if not price.is_finite():
        raise InvalidRequest(f"{param} must be a finite number.", param=param)
    if price < 0:
        raise InvalidRequest(f"{param} must not be negative.", param=param)
    if price > MAX_PRICE:
        raise InvalidRequest(f"{param} must be at most {MAX_PRICE}.", param=param)
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > PRICE_DECIMALS:
        raise InvalidRequest(
            f"{param} has more than {PRICE_DECIMALS} decimals.", param=param
        )
    return price


def _model_clean(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("model must be a non-empty string.", param="model")
    if len(model) > 200:
        raise InvalidRequest("model is longer than 200 characters.", param="model")
    return model.strip()


@transaction.atomic
def price_set(
    *,
    model: str,
    input_per_million: Any,
    output_per_million: Any,
    organization: Organization | None = None,
) -> ModelPrice:
    """Set the price of `model` (USD per million input and output tokens), for every
    organization without its own (organization None) or for `organization` only.

    Creates the price or changes the existing one; applies to usage recorded from now.
    """
    model = _model_clean(model)
    values = {
        "input_per_million": price_parse(input_per_million, param="input_per_million"),
        "output_per_million": price_parse(
            output_per_million, param="output_per_million"
        ),
    }
    price = (
        ModelPrice.objects.select_for_update()
        .filter(organization=organization, model=model)
        .first()
    )
    if price is None:
        try:
            with transaction.atomic():
                return ModelPrice.objects.create(
                    organization=organization, model=model, **values
                )
        except IntegrityError:  # created meanwhile by another call
            price = ModelPrice.objects.select_for_update().get(
                organization=organization, model=model
            )
    for name, value in values.items():
        setattr(price, name, value)
    price.save(update_fields=[*values, "updated_at"])
    return price


def price_update(
    *, price: ModelPrice, input_per_million: Any = None, output_per_million: Any = None
) -> ModelPrice:
    """Change one or both amounts of an existing price."""
    changed = []
    if input_per_million is not None:
        price.input_per_million = price_parse(
            input_per_million, param="input_per_million"
        )
        changed.append("input_per_million")
    if output_per_million is not None:
        price.output_per_million = price_parse(
            output_per_million, param="output_per_million"
        )
        changed.append("output_per_million")
    if changed:
        price.save(update_fields=[*changed, "updated_at"])
    return price


def price_delete(*, price: ModelPrice) -> None:
    """Remove a price: later usage of its model costs nothing (or the global price)."""
    price.delete()
