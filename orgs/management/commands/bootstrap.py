"""`manage.py bootstrap`: ensure the default organization, its owners and Jan's provider."""

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from accounts.models import User, normalize_email
from accounts.services import admins_bootstrap
from inference.models import Provider
from inference.services import jan_provider_setup
from orgs.management.base import OrgsCommand
from orgs.models import Organization

Result = tuple[Organization, list[User], Provider | None]


class Command(OrgsCommand[Result]):
    help = (
        "Ensure the default organization exists and that every email in "
        "ORGANIZATION_ADMIN_EMAILS (plus any --admin-email) is one of its owners, "
        "registering unknown users. With JAN_INFERENCE_SETUP, also register the "
        "shared provider 'Jan' at JAN_INFERENCE_MODEL_URL and sync its models (an "
        "unreachable model server is logged, not fatal). Idempotent: safe to run on "
        "every start."
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
        organization, owners = admins_bootstrap(emails=unique)
        return organization, owners, jan_provider_setup()

    def as_json(self, result: Result) -> dict[str, Any]:
        organization, owners, provider = result
        body: dict[str, Any] = {
            "organization": {"id": organization.public_id, "name": organization.name},
            "owners": [user.email for user in owners],
        }
        if settings.JAN_INFERENCE_SETUP:
            body["provider"] = _provider_json(provider)
        return body

    def as_text(self, result: Result) -> str:
        organization, owners, provider = result
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
        if provider is not None:
            models = ", ".join(_model_ids(provider)) or "none (see the log)"
            lines.append(
                f"Provider {provider.name!r} ({provider.public_id}) at "
                f"{provider.base_url}; models: {models}."
            )
        return "\n".join(lines)


def _model_ids(provider: Provider) -> list[str]:
    return list(
        provider.models.filter(active=True)
        .order_by("model_id")
        .values_list("model_id", flat=True)
    )


def _provider_json(provider: Provider | None) -> dict[str, Any] | None:
    if provider is None:
        return None
    return {
        "id": provider.public_id,
        "name": provider.name,
        "base_url": provider.base_url,
        "models": _model_ids(provider),
    }
