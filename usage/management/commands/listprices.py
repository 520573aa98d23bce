"""`manage.py listprices [--org ORG]`: the global prices, or an organization's own."""

from typing import Any

from django.core.management.base import CommandParser

from orgs.management.base import ORG_HELP, OrgsCommand, organization_resolve
from usage.management.commands.setprice import price_json
from usage.models import ModelPrice
from usage.selectors import price_list


class Command(OrgsCommand[list[ModelPrice]]):
    help = "List the global model prices, or with --org one organization's own."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="ORG", help=ORG_HELP)

    def run(self, *, org: str | None, **options: Any) -> list[ModelPrice]:
        organization = organization_resolve(org) if org is not None else None
        return list(price_list(organization=organization).order_by("model"))

    def as_json(self, result: list[ModelPrice]) -> list[dict[str, Any]]:
        return [price_json(price) for price in result]

    def as_text(self, result: list[ModelPrice]) -> str:
        if not result:
            return "No prices."
        return "\n".join(
            f"{price.public_id}  {price.model}  in ${price.input_per_million}  "
            f"out ${price.output_per_million}  per million tokens"
            for price in result
        )
