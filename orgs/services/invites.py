"""Invite writes: create and send an invite with a one-time code, delete, accept."""

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import User, normalize_email
from janserver.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
)
from janserver.ids import random_string
from orgs.models import (
    Invite,
    InviteProject,
    InviteStatus,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Project,
    ProjectMember,
    ProjectRole,
)

logger = logging.getLogger("janserver.invites")

INVITE_CODE_LENGTH = 48
INVITE_TTL = timedelta(days=7)


def invite_hash(code: str) -> str:
    """Return the stored form of an invite code (HMAC-SHA256, like API keys)."""
    return hmac.new(
        settings.APIKEY_SECRET.encode(), b"invite:" + code.encode(), hashlib.sha256
    ).hexdigest()


def _invite_email_check(*, organization: Organization, email: str, role: str) -> None:
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidRequest(
            f"{email!r} is not a valid email address.", param="email"
        ) from None
    current = (
        OrganizationMember.objects.filter(organization=organization, user__email=email)
        .values_list("role", flat=True)
        .first()
    )
    # A member without admin rights may be invited to a role that has them.
    if (
        current is not None
        and OrganizationRole(current).rank >= OrganizationRole(role).rank
    ):
        raise Conflict(
            f"{email} is already a member of the organization (role {current}).",
            param="email",
        )
    if Invite.objects.filter(
        organization=organization,
        email=email,
        status=InviteStatus.PENDING,
        expires_at__gt=timezone.now(),
    ).exists():
        raise Conflict(f"{email} already has a pending invite.", param="email")


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
    """Create a pending invite and return it with its one-time code.

    The email must be valid, not yet a member's and without another pending invite
    to the organization (Conflict otherwise).
    """
    if role not in OrganizationRole.values:
        raise InvalidRequest(f"Unknown organization role {role!r}.", param="role")
    email = normalize_email(email)
    _invite_email_check(organization=organization, email=email, role=role)
    code = random_string(INVITE_CODE_LENGTH)
    now = timezone.now()
    invite = Invite(
        organization=organization,
        email=email,
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


def invite_link(code: str) -> str:
    """Return the link an invitee follows: INVITE_REDIRECT_URL with the code."""
    base = getattr(settings, "INVITE_REDIRECT_URL", "")
    return f"{base}{'&' if '?' in base else '?'}code={code}"


def _invite_email_text(invite: Invite, code: str, invited_by: User | None) -> str:
    inviter = (
        (invited_by.name or invited_by.email) if invited_by else "An administrator"
    )
    return (
        f"{inviter} invited you to join the organization {invite.organization.name} "
        f"as {invite.role}.\n\nAccept the invite: {invite_link(code)}\n\n"
        f"The link expires on {invite.expires_at:%Y-%m-%d %H:%M} UTC."
    )


@transaction.atomic
def invite_send(
    *,
    organization: Organization,
    email: str,
    role: str,
    projects: list[tuple[Project, str]] | None = None,
    invited_by: User | None = None,
) -> Invite:
    """Create an invite and email its link; nothing is kept if the email fails."""
    invite, code = invite_create(
        organization=organization,
        email=email,
        role=role,
        projects=projects,
        invited_by=invited_by,
    )
    try:
        send_mail(
            subject=f"You are invited to join {organization.name}",
            message=_invite_email_text(invite, code, invited_by),
            from_email=None,
            recipient_list=[invite.email],
        )
    except OSError:
        logger.exception("Could not send an invite email")
        raise ServiceUnavailable("The invite email could not be sent.") from None
    return invite


@transaction.atomic
def invite_delete(*, invite: Invite) -> None:
    """Delete an invite that was not accepted (Conflict otherwise); its code dies."""
    if invite.status == InviteStatus.ACCEPTED:
        raise Conflict("An accepted invite cannot be deleted.", param="invite_id")
    invite.delete()


def _membership_grant(
    model: type[OrganizationMember] | type[ProjectMember],
    role: str,
    rank: Callable[[str], int],
    **lookup: object,
) -> None:
    """Add a membership with `role`, or raise an existing one to it; never demote."""
    member, created = model.objects.get_or_create(**lookup, defaults={"role": role})
    if not created and rank(role) > rank(member.role):
        member.role = role
        member.save(update_fields=["role"])


def _organization_rank(role: str) -> int:
    return OrganizationRole(role).rank


def _project_rank(role: str) -> int:
    return int(role == ProjectRole.OWNER)


def _pending_invite_for(*, code: str, user: User) -> Invite:
    """Return the invite of `code`, locked, if `user` may accept it now."""
    invite = (
        Invite.objects.select_for_update()
        .select_related("organization")
        .filter(secret_hash=invite_hash(code))
        .first()
    )
    if invite is None:
        raise NotFound("No invite with this code.", param="code")
    # The addressee is checked first, so that others learn nothing of the state.
    if invite.email != normalize_email(user.email):
        raise Forbidden("This invite was sent to another email address.")
    if invite.status == InviteStatus.ACCEPTED:
        raise Conflict(
            "This invite was accepted already.",
            param="code",
            code="invite_already_accepted",
        )
    if invite.is_expired:
        raise InvalidRequest(
            "This invite has expired; ask for a new one.",
            param="code",
            code="invite_expired",
        )
    return invite


@transaction.atomic
def invite_accept(*, code: str, user: User) -> Invite:
    """Accept a pending, unexpired invite addressed to `user`'s email.

    Joins the organization and the invite's active projects with their roles (never
    lowering a role the user already has) and marks the invite accepted. Raises
    NotFound for an unknown code, Forbidden when the invite is for another email,
    Conflict when it was accepted already and InvalidRequest when it expired.
    """
    invite = _pending_invite_for(code=code, user=user)
    _membership_grant(
        OrganizationMember,
        invite.role,
        _organization_rank,
        organization=invite.organization,
        user=user,
    )
    for link in invite.projects.select_related("project"):
        if not link.project.is_archived:
            _membership_grant(
                ProjectMember,
                link.role,
                _project_rank,
                project=link.project,
                user=user,
            )
    invite.status = InviteStatus.ACCEPTED
    invite.accepted_at = timezone.now()
    invite.save(update_fields=["status", "accepted_at"])
    return invite
