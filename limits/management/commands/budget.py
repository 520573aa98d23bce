"""`manage.py budget`: list, set and remove monthly budgets (USD, at the usage app's
prices).

    manage.py budget list [--organization ORG]
    manage.py budget set --project proj_… --limit 500 --alert 400
    manage.py budget set --organization org_… --limit none     # remove the cap
    manage.py budget remove --key key_…
"""

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from janserver.errors import InvalidRequest
from limits.management.commands.ratelimit import add_scope_arguments, scope_of
from limits.models import Budget
from limits.services import budget_delete, budget_set

OPTIONS = {"limit": "monthly_limit_usd", "alert": "alert_threshold_usd"}


def _amount(text: str) -> str | None:
    return None if text.lower() == "none" else text


class Command(BaseCommand):
    help = (
        "List, set or remove the monthly budgets of organizations, projects and keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Every budget.")
        listing.add_argument("--organization", help="An organization's public id.")
        setting = sub.add_parser("set", help="Set a cap and/or an alert threshold.")
        add_scope_arguments(setting)
        for option, field in OPTIONS.items():
            setting.add_argument(
                f"--{option}",
                type=_amount,
                default=argparse.SUPPRESS,
                help=f"{field} in USD (`none` removes it)",
            )
        removing = sub.add_parser("remove", help="Remove a scope's budget.")
        add_scope_arguments(removing)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            rows = Budget.objects.select_related("organization", "project", "api_key")
            if options.get("organization"):
                rows = rows.filter(organization__public_id=options["organization"])
            for row in rows:
                self.stdout.write(self._describe(row))
            return
        scope = scope_of(options)
        if options["action"] == "remove":
            budget = Budget.objects.filter(**scope).first()
            if budget is None:
                raise CommandError("No budget is set on that scope.")
            budget_delete(budget=budget)
            self.stdout.write(f"Removed: {budget}")
            return
        amounts = {field: options[o] for o, field in OPTIONS.items() if o in options}
        if not amounts:
            raise CommandError("Give --limit and/or --alert.")
        try:
            budget = budget_set(**scope, amounts=amounts)
        except InvalidRequest as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Set: {self._describe(budget)}")

    def _describe(self, row: Budget) -> str:
        def usd(value: Any) -> str:
            return "none" if value is None else f"{value:.2f} USD"

        return (
            f"{row}: limit {usd(row.monthly_limit_usd)}, "
            f"alert {usd(row.alert_threshold_usd)}"
        )
