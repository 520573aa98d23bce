"""`manage.py bootstrap`: ensure the default organization and its configured owners."""

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from accounts.models import User, normalize_email
from accounts.services import admins_bootstrap
from orgs.management.base import OrgsCommand
from orgs.models import Organization

Result = tuple[Organization, list[User]]


class Command(OrgsCommand[Result]):
    help = (
        "Ensure the default organization exists and that every email in "
        "ORGANIZATION_ADMIN_EMAILS (plus any --admin-email) is one of its owners, "
        "registering unknown users. Idempotent: safe to run on every start."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-email",
            action="append",
            default=[],
            dest="admin_emails",
            metavar="EMAIL",
            help="Another owner email, added to ORGANIZATION_ADMIN_EMAILS (repeatable).",
        )

    def run(self, *, admin_emails: list[str], **options: Any) -> Result:
        emails = [*settings.ORGANIZATION_ADMIN_EMAILS, *admin_emails]
        # Order-preserving de-duplication, so each owner is ensured once.
        unique = list(dict.fromkeys(normalize_email(email) for email in emails))
        return admins_bootstrap(emails=unique)

    def as_json(self, result: Result) -> dict[str, Any]:
        organization, owners = result
        return {
            "organization": {"id": organization.public_id, "name": organization.name},
            "owners": [user.email for user in owners],
        }

    def as_text(self, result: Result) -> str:
        organization, owners = result
        lines = [
            f"Default organization: {organization.name!r} ({organization.public_id})."
        ]
        if owners:
            lines.append(
                "Owners ensured: " + ", ".join(user.email for user in owners) + "."
            )
        else:
            lines.append(
                "No owners configured (set ORGANIZATION_ADMIN_EMAILS or pass --admin-email)."
            )
        return "\n".join(lines)
