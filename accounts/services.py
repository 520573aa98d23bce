"""User writes: registration, guest and social (Google, OIDC) logins, and the bootstrap of admins."""

import contextlib
from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.models import User, normalize_email
from accounts.selectors import refresh_user_get, session_guest_get
from accounts.tokens import TokenPair, session_revoke, tokens_issue, tokens_rotate
from janserver import auth_cache
from janserver.errors import Conflict, InvalidRequest, Unauthenticated
from janserver.ids import random_string
from orgs.models import Organization
from orgs.services import (
    organization_default_ensure,
    organization_owners_ensure,
    project_personal_ensure,
)

GUEST_EMAIL_DOMAIN = "guest.jan.ai"
GUEST_NAME_LENGTH = 16


@dataclass(frozen=True)
class SocialIdentity:
    """Who an identity provider says the caller is, from a verified ID token.

    `provider` is the SocialAccount provider: "google", or an OIDC app's provider_id.
    """

    provider: str
    uid: str
    email: str
    email_verified: bool
    name: str
    claims: dict[str, Any]


@transaction.atomic
def user_register(*, email: str, name: str = "", is_guest: bool = False) -> User:
    """Create a user with a "Default Project" (as owner) in the default organization."""
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidRequest(
            f"{email!r} is not a valid email address.", param="email"
        ) from None
    if User.objects.filter(email=email).exists():
        raise InvalidRequest(
            f"A user with email {email} already exists.", param="email", code="conflict"
        )
    user = User.objects.create_user(email=email, name=name, is_guest=is_guest)
    project_personal_ensure(user=user)
    return user


def user_get_or_register(*, email: str) -> tuple[User, bool]:
    """Return the user with this email, registering one if needed; the flag says which."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is not None:
        return user, False
    return user_register(email=email), True


@transaction.atomic
def admins_bootstrap(*, emails: list[str]) -> tuple[Organization, list[User]]:
    """Ensure the default organization exists and `emails` are its owners (idempotent)."""
    organization = organization_default_ensure()
    users = [user_get_or_register(email=email)[0] for email in emails]
    organization_owners_ensure(organization=organization, users=users)
    return organization, users


def guest_register() -> User:
    """Create a guest user (`jan_<random>`, `<name>@guest.jan.ai`) with its Default Project."""
    name = f"jan_{random_string(GUEST_NAME_LENGTH)}"
    return user_register(email=f"{name}@{GUEST_EMAIL_DOMAIN}", name=name, is_guest=True)


def guest_login(*, refresh: str | None) -> TokenPair:
    """Rotate a guest's refresh token, or register a new guest and start its session.

    A refresh token that is not a guest's, or is invalid, expired or revoked, gets a new
    guest; a rotated one presented again still revokes its session first.
    """
    if refresh:
        with contextlib.suppress(Unauthenticated):
            if refresh_user_get(refresh=refresh).is_guest:
                return tokens_rotate(refresh=refresh)[1]
    return tokens_issue(user=guest_register())


def social_login(
    *, identity: SocialIdentity, refresh: str | None, link_by_email: bool
) -> TokenPair:
    """Start a session for the user a verified identity names.

    That is the user linked to the provider's `sub`; on a first login, with
    `link_by_email`, the user with the same verified email; else the guest of
    `refresh` upgraded in place (keeping its projects, keys and conversations), else a
    new user. Without `link_by_email` an email that another user has is a Conflict:
    the user is matched by `sub`, never by email alone. The session of `refresh`, if
    any, ends: this login replaces it in the browser.
    """
    guest = None
    if refresh:
        with contextlib.suppress(Unauthenticated):
            guest = session_guest_get(refresh=refresh)
    try:
        user = _social_user(identity=identity, guest=guest, link_by_email=link_by_email)
    except IntegrityError:
        # A concurrent first login with this identity won the race; it is linked now.
        user = _social_user(identity=identity, guest=guest, link_by_email=link_by_email)
    pair = tokens_issue(user=user)
    if refresh:
        session_revoke(refresh=refresh)
    return pair


@transaction.atomic
def _social_user(
    *, identity: SocialIdentity, guest: User | None, link_by_email: bool
) -> User:
    account = (
        SocialAccount.objects.select_related("user")
        .filter(provider=identity.provider, uid=identity.uid)
        .first()
    )
    if account is not None:
        account.extra_data = identity.claims
        account.save(update_fields=["extra_data", "last_login"])
        return account.user
    # Email decides only the first link, and only when the provider vouches for it.
    if not identity.email_verified or not identity.email:
        raise Unauthenticated()
    user = User.objects.filter(email=normalize_email(identity.email)).first()
    if user is not None and not link_by_email:
        raise Conflict(
            f"Another account already uses {normalize_email(identity.email)}; it is "
            "not linked to this identity provider (an administrator can link it).",
            code="account_exists",
        )
    if user is None and guest is not None:
        user = _guest_upgrade(guest=guest, email=identity.email, name=identity.name)
    if user is None:
        user = user_register(email=identity.email, name=identity.name)
    SocialAccount.objects.create(
        user=user,
        provider=identity.provider,
        uid=identity.uid,
        extra_data=identity.claims,
    )
    return user


def _guest_upgrade(*, guest: User, email: str, name: str) -> User | None:
    user = (
        User.objects.select_for_update()
        .filter(pk=guest.pk, is_guest=True, is_active=True)
        .first()
    )
    if user is None:
        return None
    user.email = normalize_email(email)
    user.name = name or user.name
    user.is_guest = False
    user.save(update_fields=["email", "name", "is_guest"])
    auth_cache.invalidate("user", user.public_id)
    return user


@transaction.atomic
def password_user_create(
    *, email: str, password: str, guest: User | None, upgrade_now: bool, verified: bool
) -> User:
    """Create a password account for an email no user has, or give it to `guest`.

    A guest (still an active guest) is upgraded in place now with `upgrade_now`;
    otherwise it keeps its guest email, and only gains the password and the
    unverified address, until email_verified_apply. The password must be validated.
    """
    email = normalize_email(email)
    if guest is not None:
        guest = (
            User.objects.select_for_update()
            .filter(pk=guest.pk, is_guest=True, is_active=True)
            .first()
        )
    if guest is None:
        user = user_register(email=email)
    elif upgrade_now:
        user = _guest_upgrade(guest=guest, email=email, name="") or guest
    else:
        user = guest
    user.set_password(password)
    user.save(update_fields=["password"])
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    return user


@transaction.atomic
def email_verified_apply(*, user: User, email: str) -> User:
    """Finish the sign-up of a guest whose new address `email` was just verified.

    The guest becomes that user in place (Conflict if another user took the email
    meanwhile); other users are returned as they are.
    """
    if not user.is_guest:
        return user
    email = normalize_email(email)
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise Conflict(f"Another account already uses {email}.", param="key")
    return _guest_upgrade(guest=user, email=email, name="") or user
