"""Login tokens: HS512 JWTs (simplejwt) whose refresh tokens rotate within a login session."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import LoginSession, User
from janserver import auth_cache
from janserver.errors import Unauthenticated
from janserver.ids import random_string

JTI_LENGTH = 32


class JanAccessToken(AccessToken):
    """Access token with Jan's claims: ID, Email, Name (plus sub, sid, iss, aud)."""


class JanRefreshToken(RefreshToken):
    """Refresh token of a login session; validity is checked against the session row."""

    access_token_class = JanAccessToken


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int


def _user_claims(user: User) -> dict[str, Any]:
    return {"ID": user.public_id, "Email": user.email, "Name": user.name or user.email}


def _pair(*, user: User, session: LoginSession) -> TokenPair:
    refresh = JanRefreshToken.for_user(user)
    refresh["jti"] = session.current_jti
    refresh["sid"] = session.family
    for claim, value in _user_claims(user).items():
        refresh[claim] = value
    access = refresh.access_token
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        expires_in=int(settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def tokens_issue(*, user: User) -> TokenPair:
    """Start a login session for an active user and return its first token pair."""
    if not user.is_active:
        raise Unauthenticated()
    now = timezone.now()
    session = LoginSession.objects.create(
        user=user,
        current_jti=random_string(JTI_LENGTH),
        expires_at=now + settings.REFRESH_TOKEN_LIFETIME,
    )
    return _pair(user=user, session=session)


def refresh_token_decode(raw: str) -> JanRefreshToken:
    """Return the verified refresh token (signature, type, expiry, iss, aud)."""
    try:
        return JanRefreshToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise Unauthenticated() from None


def access_token_decode(raw: str) -> JanAccessToken:
    """Return the verified access token; a refresh token is refused here."""
    try:
        return JanAccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        raise Unauthenticated() from None


def tokens_rotate(*, refresh: str) -> tuple[User, TokenPair]:
    """Exchange a refresh token for a new pair; the old one is dead from now on.

    Presenting a refresh token that was already rotated revokes the whole session (the
    revocation is committed before the 401), so that a stolen token and its legitimate
    twin both stop working.
    """
    rotated = _rotate(refresh_token_decode(refresh))
    if rotated is None:
        raise Unauthenticated()
    return rotated


@transaction.atomic
def _rotate(token: JanRefreshToken) -> tuple[User, TokenPair] | None:
    session = (
        LoginSession.objects.select_for_update()
        .select_related("user")
        .filter(family=token.get("sid", ""))
        .first()
    )
    if session is None or session.is_revoked or not session.user.is_active:
        return None
    if token["jti"] != session.current_jti:
        _revoke(session, reason="reuse")
        return None
    session.current_jti = random_string(JTI_LENGTH)
    session.rotated_at = timezone.now()
    session.save(update_fields=["current_jti", "rotated_at"])
    return session.user, _pair(user=session.user, session=session)


def _revoke(session: LoginSession, *, reason: str) -> None:
    session.revoked_at = timezone.now()
    session.revoked_reason = reason
    session.save(update_fields=["revoked_at", "revoked_reason"])
    auth_cache.invalidate("session", session.family)


def session_revoke(*, refresh: str) -> None:
    """Revoke the login session of a refresh token (logout); unknown tokens are ignored."""
    try:
        token = refresh_token_decode(refresh)
    except Unauthenticated:
        return
    session = LoginSession.objects.filter(family=token.get("sid", "")).first()
    if session is not None and not session.is_revoked:
        _revoke(session, reason="logout")


def sessions_revoke_for_user(*, user: User, reason: str) -> int:
    """Revoke every open login session of a user; return how many."""
    sessions = list(LoginSession.objects.filter(user=user, revoked_at__isnull=True))
    for session in sessions:
        _revoke(session, reason=reason)
    auth_cache.invalidate("user", user.public_id)
    return len(sessions)
