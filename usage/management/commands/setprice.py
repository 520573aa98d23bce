"""`manage.py setprice MODEL --input USD --output USD [--org ORG]`: price a model."""

from typing import Any

from django.core.management.base import CommandParser

from orgs.management.base import ORG_HELP, OrgsCommand, organization_resolve
from usage.models import ModelPrice
from usage.services import price_set


class Command(OrgsCommand[ModelPrice]):
    help = (
        "Set the price of a model in USD per million input and output tokens: the "
        "global price, or with --org one organization's own (which overrides the "
        "global one). Applies to usage recorded from now on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The model id clients send.")
        parser.add_argument(
            "--input",
            required=True,
            metavar="USD",
            help="USD per million input tokens.",
        )
        parser.add_argument(
            "--output",
            required=True,
            metavar="USD",
            help="USD per million output tokens.",
        )
        parser.add_argument("--org", metavar="ORG", help=ORG_HELP)

    def run(
        self, *, model: str, input: str, output: str, org: str | None, **options: Any
    ) -> ModelPrice:
        organization = organization_resolve(org) if org is not None else None
        return price_set(
            model=model,
            input_per_million=input,
            output_per_million=output,
            organization=organization,
        )

    def as_json(self, result: ModelPrice) -> dict[str, Any]:
        return price_json(result)

    def as_text(self, result: ModelPrice) -> str:
        return (
            f"{result.model}: ${result.input_per_million} input, "
            f"${result.output_per_million} output per million tokens "
            f"({_scope(result)}, {result.public_id})."
        )


def _scope(price: ModelPrice) -> str:
    return price.organization.public_id if price.organization else "global"


def price_json(price: ModelPrice) -> dict[str, Any]:
    return {
        "id": price.public_id,
        "model": price.model,
        "input_per_million": str(price.input_per_million),
        "output_per_million": str(price.output_per_million),
        "org": price.organization.public_id if price.organization else None,
    }
