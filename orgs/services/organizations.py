"""Organization writes: the default organization, organizations and their members."""

from django.conf import settings
from django.db import transaction

from accounts.models import User
from janserver.errors import Conflict, InvalidRequest
from orgs.models import (
    ApiKey,
    ApiKeyKind,
    Organization,
    OrganizationMember,
    OrganizationRole,
    ProjectMember,
)
from orgs.services.api_keys import api_keys_revoke


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


def _organization_role_check(role: str) -> None:
    if role not in OrganizationRole.values:
        raise InvalidRequest(
            f"Unknown organization role {role!r}; use owner, reader or member.",
            param="role",
        )


def _last_owner_guard(member: OrganizationMember, action: str) -> None:
    """Refuse to leave an organization without an active owner (owners are locked
    meanwhile): a disabled user's ownership cannot be used."""
    if member.role != OrganizationRole.OWNER:
        return
    # FOR UPDATE cannot be combined with COUNT in PostgreSQL: lock and count the rows.
    owners = list(
        OrganizationMember.objects.select_for_update(of=("self",))
        .filter(
            organization_id=member.organization_id,
            role=OrganizationRole.OWNER,
            user__is_active=True,
        )
        .values_list("pk", flat=True)
    )
    if not set(owners) - {member.pk}:
        raise Conflict(
            f"Cannot {action} the last active owner of the organization; "
            "make another member an owner first."
        )


@transaction.atomic
def organization_member_role_change(
    *, member: OrganizationMember, role: str
) -> OrganizationMember:
    """Change a member's role; the last owner cannot be demoted (Conflict).

    A demoted owner's admin keys of the organization are revoked, since admin keys act
    with owner rights.
    """
    _organization_role_check(role)
    if member.role == role:
        return member
    _last_owner_guard(member, "demote")
    member.role = role
    member.save(update_fields=["role"])
    if role != OrganizationRole.OWNER:
        api_keys_revoke(
            keys=ApiKey.objects.filter(
                organization_id=member.organization_id,
                owner_id=member.user_id,
                kind=ApiKeyKind.ADMIN,
            )
        )
    return member


@transaction.atomic
def organization_member_remove(*, member: OrganizationMember) -> None:
    """Remove a member, their project memberships and API keys in the organization.

    The last owner cannot be removed (Conflict).
    """
    _last_owner_guard(member, "remove")
    api_keys_revoke(
        keys=ApiKey.objects.filter(
            organization_id=member.organization_id, owner_id=member.user_id
        )
    )
    ProjectMember.objects.filter(
        project__organization_id=member.organization_id, user_id=member.user_id
    ).delete()
    member.delete()
