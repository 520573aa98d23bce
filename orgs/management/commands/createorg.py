"""`manage.py createorg NAME --owner EMAIL`: create an organization and its first owner."""

from typing import Any

from django.core.management.base import CommandParser

from accounts.models import User
from orgs.management.base import OrgsCommand, user_resolve
from orgs.models import Organization
from orgs.services import organization_create

Result = tuple[Organization, User]


class Command(OrgsCommand[Result]):
    help = (
        "Create an organization with EMAIL as its first owner. An unknown email is "
        "registered as a new user (with a personal project in the default organization)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Display name of the new organization.")
        parser.add_argument(
            "--owner",
            required=True,
            metavar="EMAIL",
            help="Email of the first owner; registered if no such user exists.",
        )

    def run(self, *, name: str, owner: str, **options: Any) -> Result:
        user = user_resolve(owner, register=True)
        return organization_create(name=name, owner=user), user

    def as_json(self, result: Result) -> dict[str, Any]:
        organization, owner = result
        return {
            "id": organization.public_id,
            "name": organization.name,
            "owner": owner.email,
        }

    def as_text(self, result: Result) -> str:
        organization, owner = result
        return (
            f"Created organization {organization.name!r} ({organization.public_id}) "
            f"owned by {owner.email}."
        )
