"""`manage.py ratelimit`: list, set and remove rate limits.

manage.py ratelimit list [--organization ORG]
manage.py ratelimit set --project proj_… [--model M] --rpm 60 --tpm 100000
manage.py ratelimit set --key key_… --concurrent 4
manage.py ratelimit set --organization org_… --rpd 10000
manage.py ratelimit remove --project proj_… [--model M]
"""

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from janserver.errors import InvalidRequest
from limits.models import LIMIT_FIELDS, RateLimit
from limits.services import rate_limit_delete, rate_limit_set
from orgs.models import ApiKey, Organization, Project

OPTIONS = {
    "rpm": "max_requests_per_1_minute",
    "tpm": "max_tokens_per_1_minute",
    "rpd": "max_requests_per_1_day",
    "concurrent": "max_concurrent_requests",
}


def _limit(text: str) -> int | None:
    """A limit on the command line: a whole number, or `none` to remove it."""
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"Not a whole number (or `none`): {text!r}") from None


def add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    """--organization, --project or --key: the scope a command acts on."""
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--organization", help="org_…: the whole organization")
    scope.add_argument("--project", help="proj_…: one project")
    scope.add_argument("--key", help="key_…: one project API key")


def scope_of(options: dict[str, Any]) -> dict[str, Any]:
    """The organization, project and key of --organization, --project or --key."""
    try:
        if options.get("key"):
            key = ApiKey.objects.select_related("project").get(public_id=options["key"])
            return {
                "organization": key.organization,
                "project": key.project,
                "api_key": key,
            }
        if options.get("project"):
            project = Project.objects.select_related("organization").get(
                public_id=options["project"]
            )
            return {"organization": project.organization, "project": project}
        return {
            "organization": Organization.objects.get(public_id=options["organization"])
        }
    except (ApiKey.DoesNotExist, Project.DoesNotExist, Organization.DoesNotExist):
        raise CommandError("No such organization, project or key.") from None


class Command(BaseCommand):
    help = "List, set or remove the rate limits of organizations, projects and keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Every limit set.")
        listing.add_argument("--organization", help="An organization's public id.")
        for name, helptext in (
            ("set", "Set limits (others keep their values)."),
            ("remove", "Remove every limit of a scope and model."),
        ):
            action = sub.add_parser(name, help=helptext)
            add_scope_arguments(action)
            action.add_argument("--model", default="", help="Default: every model.")
            action.add_argument(
                "--per-user",
                action="store_true",
                help="with --organization: limits each login user has of their own",
            )
            if name == "set":
                for option, field in OPTIONS.items():
                    action.add_argument(
                        f"--{option}",
                        type=_limit,
                        default=argparse.SUPPRESS,  # absent: unchanged
                        help=f"{field} (`none` removes it)",
                    )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list(options.get("organization"))
            return
        scope = scope_of(options)
        if options["action"] == "remove":
            row = RateLimit.objects.filter(
                **scope, model=options["model"], per_user=options["per_user"]
            ).first()
            if row is None:
                raise CommandError("No limit is set on that scope and model.")
            rate_limit_delete(rate_limit=row)
            self.stdout.write(f"Removed: {row}")
            return
        limits = {
            field: options[option]
            for option, field in OPTIONS.items()
            if option in options
        }
        if not limits:
            raise CommandError(
                "Give at least one of --rpm, --tpm, --rpd, --concurrent."
            )
        try:
            row = rate_limit_set(
                **scope,
                model=options["model"],
                per_user=options["per_user"],
                limits=limits,
            )
        except InvalidRequest as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Set: {row} " + self._values(row))

    def _values(self, row: RateLimit) -> str:
        return ", ".join(f"{name}={getattr(row, name)}" for name in LIMIT_FIELDS)

    def _list(self, organization: str | None) -> None:
        rows = RateLimit.objects.select_related("organization", "project", "api_key")
        if organization:
            rows = rows.filter(organization__public_id=organization)
        for row in rows:
            self.stdout.write(f"{row}  {self._values(row)}")
