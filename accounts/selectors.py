"""User reads."""

from django.utils import timezone

from accounts.models import LoginSession, User, normalize_email
from accounts.tokens import refresh_token_decode
from janserver.errors import NotFound, Unauthenticated


def user_get(*, email: str) -> User:
    """Return the user with this email (any case); raise NotFound."""
    user = User.objects.filter(email=normalize_email(email)).first()
    if user is None:
        raise NotFound(f"No user with email {normalize_email(email)!r}.", param="email")
    return user


def refresh_user_get(*, refresh: str) -> User:
    """Return the active user a refresh token was issued to; raise Unauthenticated.

    Only the token is verified (signature, type, expiry, iss, aud): tokens_rotate checks
    its login session.
    """
    token = refresh_token_decode(refresh)
    user = User.objects.filter(public_id=token.get("sub", ""), is_active=True).first()
    if user is None:
        raise Unauthenticated()
    return user


def session_guest_get(*, refresh: str) -> User:
    """Return the active guest whose open session's newest token is `refresh`.

    Raise Unauthenticated for anything else (other users, rotated or revoked tokens).
    """
    token = refresh_token_decode(refresh)
    session = (
        LoginSession.objects.select_related("user")
        .filter(
            family=token.get("sid", ""),
            current_jti=token.get("jti", ""),
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if session is None or not (session.user.is_active and session.user.is_guest):
        raise Unauthenticated()
    return session.user
