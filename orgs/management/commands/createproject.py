"""`manage.py createproject --org ORG --name NAME [--owner EMAIL]`: create a project."""

from typing import Any

from django.core.management.base import CommandParser

from orgs.management.base import (
    ORG_HELP,
    OrgsCommand,
    organization_resolve,
    user_resolve,
)
from orgs.models import Project
from orgs.services import project_create


class Command(OrgsCommand[Project]):
    help = (
        "Create a project in an organization. With --owner, that user becomes the "
        "project's owner and joins the organization (as a reader) if not yet a member; "
        "an unknown email is registered as a new user."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, metavar="ORG", help=ORG_HELP)
        parser.add_argument(
            "--name", required=True, help="Display name of the project."
        )
        parser.add_argument(
            "--owner", metavar="EMAIL", help="Email of the project's owner (optional)."
        )

    def run(self, *, org: str, name: str, owner: str | None, **options: Any) -> Project:
        organization = organization_resolve(org)
        user = user_resolve(owner, register=True) if owner is not None else None
        return project_create(organization=organization, name=name, owner=user)

    def as_json(self, result: Project) -> dict[str, Any]:
        return {
            "id": result.public_id,
            "name": result.name,
            "org": result.organization.public_id,
        }

    def as_text(self, result: Project) -> str:
        return (
            f"Created project {result.name!r} ({result.public_id}) "
            f"in organization {result.organization.public_id}."
        )
