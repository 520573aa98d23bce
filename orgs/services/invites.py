"""Invite writes: create an invite with a one-time code."""

import hashlib
import hmac
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User, normalize_email
from janserver.errors import InvalidRequest
from janserver.ids import random_string
from orgs.models import (
    Invite,
    InviteProject,
    Organization,
    OrganizationRole,
    Project,
)

INVITE_CODE_LENGTH = 48
INVITE_TTL = timedelta(days=7)


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
