"""Tenancy writes: organizations, memberships, projects, invites and API keys."""

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User, normalize_email
from janserver.errors import Forbidden, InvalidRequest, Unauthenticated
from janserver.ids import random_string
from orgs.models import (
    ApiKey,
    ApiKeyKind,
    Invite,
    InviteProject,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
)
from orgs.selectors import organization_role_get, project_role_get

API_KEY_PREFIXES = {ApiKeyKind.ADMIN: "sk-admin_", ApiKeyKind.PROJECT: "sk-project_"}
API_KEY_RANDOM_LENGTH = 48  # [0-9a-z]: about 248 bits
API_KEY_MAX_LENGTH = 128
INVITE_CODE_LENGTH = 48
INVITE_TTL = timedelta(days=7)


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


@transaction.atomic
def project_create(
    *, organization: Organization, name: str, owner: User | None = None
) -> Project:
    """Create a project; `owner`, when given, becomes its owner and an organization member."""
    name = name.strip()
    if not name:
        raise InvalidRequest("The project name must not be empty.", param="name")
    project = Project.objects.create(organization=organization, name=name)
    if owner is not None:
        OrganizationMember.objects.get_or_create(organization=organization, user=owner)
        ProjectMember.objects.create(
            project=project, user=owner, role=ProjectRole.OWNER
        )
    return project


@transaction.atomic
def project_personal_ensure(
    *, user: User, organization: Organization | None = None
) -> Project:
    """Return the user's "Default Project" in `organization` (default org), creating it.

    In the default organization the user becomes a member as needed; elsewhere the user
    must already be a member.
    """
    organization = organization or organization_default_ensure()
    if organization.is_default:
        OrganizationMember.objects.get_or_create(organization=organization, user=user)
    elif not OrganizationMember.objects.filter(
        organization=organization, user=user
    ).exists():
        raise Forbidden(
            f"{user.email} is not a member of organization {organization.public_id}."
        )
    project = (
        Project.objects.filter(
            organization=organization,
            name=settings.DEFAULT_PROJECT_NAME,
            status=ProjectStatus.ACTIVE,
            memberships__user=user,
            memberships__role=ProjectRole.OWNER,
        )
        .order_by("created_at", "pk")
        .first()
    )
    return project or project_create(
        organization=organization, name=settings.DEFAULT_PROJECT_NAME, owner=user
    )


def project_archive(*, project: Project) -> Project:
    """Archive a project (idempotent); its keys stop working."""
    if project.status != ProjectStatus.ARCHIVED:
        project.status = ProjectStatus.ARCHIVED
        project.archived_at = timezone.now()
        project.save(update_fields=["status", "archived_at", "updated_at"])
    return project


def project_member_set(*, project: Project, user: User, role: str) -> ProjectMember:
    """Add `user` to `project` with `role`, or change the role of an existing member."""
    if role not in ProjectRole.values:
        raise InvalidRequest(f"Unknown project role {role!r}.", param="role")
    member, created = ProjectMember.objects.get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and member.role != role:
        member.role = role
        member.save(update_fields=["role"])
    return member


def api_key_hash(secret: str) -> str:
    """Return the hex HMAC-SHA256 of a key under APIKEY_SECRET: the only form stored."""
    return hmac.new(
        settings.APIKEY_SECRET.encode(), secret.encode(), hashlib.sha256
    ).hexdigest()


def api_key_hint(secret: str) -> str:
    return f"sk-…{secret[-4:]}"


def _api_key_owner_check(
    *, kind: str, organization: Organization, project: Project | None, owner: User
) -> None:
    """Admin keys belong to organization owners; project keys to project members or org owners."""
    is_org_owner = (
        organization_role_get(organization=organization, user=owner)
        == OrganizationRole.OWNER
    )
    if kind == ApiKeyKind.ADMIN and not is_org_owner:
        raise Forbidden(
            f"{owner.email} is not an owner of organization {organization.public_id}; "
            "admin keys belong to organization owners.",
            param="owner",
        )
    if (
        kind == ApiKeyKind.PROJECT
        and project is not None
        and not is_org_owner
        and project_role_get(project=project, user=owner) is None
    ):
        raise Forbidden(
            f"{owner.email} is neither a member of project {project.public_id} "
            f"nor an owner of organization {organization.public_id}.",
            param="owner",
        )


def _api_key_new_secret(kind: str) -> str:
    return API_KEY_PREFIXES[ApiKeyKind(kind)] + random_string(API_KEY_RANDOM_LENGTH)


@transaction.atomic
def api_key_create(
    *,
    kind: str,
    organization: Organization,
    owner: User,
    project: Project | None = None,
    name: str = "",
    description: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is never available again."""
    if kind not in ApiKeyKind.values:
        raise InvalidRequest(
            f"Unknown key kind {kind!r}; use admin or project.", param="kind"
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidRequest("The expiry must be in the future.", param="expires_at")
    if project is not None and project.is_archived:
        raise InvalidRequest("The project is archived.", param="project")
    _api_key_owner_check(
        kind=kind, organization=organization, project=project, owner=owner
    )
    secret = _api_key_new_secret(kind)
    api_key = ApiKey(
        kind=kind,
        organization=organization,
        project=project,
        owner=owner,
        name=name.strip(),
        description=description.strip(),
        expires_at=expires_at,
        key_hash=api_key_hash(secret),
        hint=api_key_hint(secret),
    )
    api_key.full_clean(exclude=["key_hash", "hint"])
    api_key.save()
    return api_key, secret


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key (a soft delete; idempotent, the first revocation time is kept)."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_verify(*, secret: str) -> ApiKey:
    """Return the usable key whose secret this is; raise Unauthenticated otherwise.

    Rejects malformed, unknown, disabled, revoked and expired keys, keys of inactive
    owners and keys of archived projects, all with the same error.
    """
    if (
        not secret
        or len(secret) > API_KEY_MAX_LENGTH
        or not secret.startswith(tuple(API_KEY_PREFIXES.values()))
    ):
        raise Unauthenticated()
    digest = api_key_hash(secret)
    api_key = (
        ApiKey.objects.select_related("organization", "project", "owner")
        .filter(key_hash=digest)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        raise Unauthenticated()
    if not api_key.is_usable() or not api_key.owner.is_active:
        raise Unauthenticated()
    if api_key.project is not None and api_key.project.is_archived:
        raise Unauthenticated()
    return api_key


def invite_hash(code: str) -> str:
    """Return the stored form of an invite code (HMAC-SHA256, like API keys)."""
    return hmac.new(
        settings.APIKEY_SECRET.encode(), b"invite:" + code.encode(), hashlib.sha256
    ).hexdigest()


@transaction.atomic
def invite_create(
    *,
    organization: Organization,
    email: str,
    role: str = OrganizationRole.READER,
    projects: list[tuple[Project, str]] | None = None,
    invited_by: User | None = None,
    ttl: timedelta = INVITE_TTL,
) -> tuple[Invite, str]:
    """Create a pending invite and return it with its one-time code."""
    if role not in OrganizationRole.values:
        raise InvalidRequest(f"Unknown organization role {role!r}.", param="role")
    code = random_string(INVITE_CODE_LENGTH)
    now = timezone.now()
    invite = Invite(
        organization=organization,
        email=normalize_email(email),
        role=role,
        secret_hash=invite_hash(code),
        invited_by=invited_by,
        invited_at=now,
        expires_at=now + ttl,
    )
    invite.full_clean(exclude=["secret_hash"])
    invite.save()
    for project, project_role in projects or []:
        link = InviteProject(invite=invite, project=project, role=project_role)
        link.full_clean()
        link.save()
    return invite, code
