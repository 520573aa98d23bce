"""Organization writes: the default organization, organizations and their members."""

from django.conf import settings
from django.db import transaction

from accounts.models import User
from janserver.errors import InvalidRequest
from orgs.models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
)


def organization_default_ensure() -> Organization:
    """Return the default organization, creating it if the data migration did not."""
    organization, _ = Organization.objects.get_or_create(
        is_default=True, defaults={"name": settings.DEFAULT_ORGANIZATION_NAME}
    )
    return organization


@transaction.atomic
def organization_create(*, name: str, owner: User) -> Organization:
    """Create an organization with `owner` as its first owner."""
    name = name.strip()
    if not name:
        raise InvalidRequest("The organization name must not be empty.", param="name")
    organization = Organization.objects.create(name=name)
    OrganizationMember.objects.create(
        organization=organization, user=owner, role=OrganizationRole.OWNER
    )
    return organization


def organization_member_set(
    *, organization: Organization, user: User, role: str
) -> OrganizationMember:
    """Add `user` to `organization` with `role`, or change the role of an existing member."""
    if role not in OrganizationRole.values:
        raise InvalidRequest(f"Unknown organization role {role!r}.", param="role")
    member, created = OrganizationMember.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if not created and member.role != role:
        member.role = role
        member.save(update_fields=["role"])
    return member


@transaction.atomic
def organization_owners_ensure(
    *, organization: Organization, users: list[User]
) -> list[OrganizationMember]:
    """Make every user in `users` an owner of `organization` (idempotent)."""
    return [
        organization_member_set(
            organization=organization, user=user, role=OrganizationRole.OWNER
        )
        for user in users
    ]
