"""`manage.py createapikey`: create an admin or project API key and print its secret once."""

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from accounts.models import User
from janserver.errors import NotFound
from orgs.management.base import (
    ORG_HELP,
    OrgsCommand,
    iso,
    organization_resolve,
    user_resolve,
)
from orgs.models import (
    ApiKey,
    ApiKeyKind,
    Organization,
    Project,
)
from orgs.selectors import project_get
from orgs.services import api_key_create, project_personal_ensure

Result = tuple[ApiKey, str]


def expires_at_parse(days: str | None) -> datetime | None:
    """Return the expiry `days` whole days from now, or None when no expiry is given."""
    if days is None:
        return None
    try:
        count = int(days)
    except ValueError:
        count = 0
    if count <= 0:
        raise CommandError(
            f"--expires-in must be a positive whole number of days, got {days!r}."
        )
    try:
        return timezone.now() + timedelta(days=count)
    except OverflowError:
        raise CommandError(f"--expires-in is too large: {days!r} days.") from None


def project_for_key(
    public_id: str | None, organization: Organization, user: User
) -> Project:
    """Return the key's project: the named one or the owner's personal one.

    api_key_create checks that the owner may own a key of it.
    """
    if public_id is None:
        return project_personal_ensure(user=user, organization=organization)
    try:
        return project_get(public_id=public_id.strip(), organization=organization)
    except NotFound:
        raise CommandError(
            f"No project {public_id!r} in organization {organization.public_id}."
        ) from None


class Command(OrgsCommand[Result]):
    help = (
        "Create an API key and print its secret, the only line on stdout (so that "
        "KEY=$(manage.py createapikey ...) works); the secret cannot be shown again. "
        "Admin keys need an organization owner. Project keys use --project (the owner "
        "must be a project member or an organization owner) or, without it, the "
        "owner's personal 'Default Project'. In the default organization an unknown "
        "owner email is registered."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            required=True,
            choices=ApiKeyKind.values,
            help="admin (organization-wide) or project (one project).",
        )
        parser.add_argument("--org", required=True, metavar="ORG", help=ORG_HELP)
        parser.add_argument(
            "--project",
            metavar="PROJ",
            help="Project public id (proj_…) in ORG; only with --kind project.",
        )
        parser.add_argument(
            "--owner", required=True, metavar="EMAIL", help="Email of the key's owner."
        )
        parser.add_argument("--name", default="", help="Display name of the key.")
        parser.add_argument("--description", default="", help="Free-form description.")
        parser.add_argument(
            "--expires-in",
            metavar="DAYS",
            help="Expire the key after this many days (a positive integer); default never.",
        )

    def run(self, **options: Any) -> Result:
        kind, public_id = options["kind"], options["project"]
        if public_id is not None and kind != ApiKeyKind.PROJECT:
            raise CommandError("--project is only allowed with --kind project.")
        expires_at = expires_at_parse(options["expires_in"])
        organization = organization_resolve(options["org"])
        owner = user_resolve(options["owner"], register=organization.is_default)
        project = (
            project_for_key(public_id, organization, owner)
            if kind == ApiKeyKind.PROJECT
            else None
        )
        return api_key_create(
            kind=kind,
            organization=organization,
            owner=owner,
            project=project,
            name=options["name"],
            description=options["description"],
            expires_at=expires_at,
        )

    def as_json(self, result: Result) -> dict[str, Any]:
        api_key, secret = result
        return {
            "id": api_key.public_id,
            "key": secret,
            "kind": api_key.kind,
            "org": api_key.organization.public_id,
            "project": api_key.project.public_id if api_key.project else None,
            "name": api_key.name,
            "hint": api_key.hint,
            "expires_at": iso(api_key.expires_at),
        }

    def as_text(self, result: Result) -> str:
        api_key, secret = result
        if self.verbosity >= 2:
            # stderr, so that stdout stays the bare secret.
            self.stderr.write(
                f"Created {api_key.kind} key {api_key.public_id} ({api_key.hint}); "
                "store the secret now, it cannot be shown again."
            )
        return secret
