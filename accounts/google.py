"""Google login through django-allauth: the authorization URL and the code exchange."""

import logging

import jwt
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.google.provider import GoogleProvider
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.conf import settings
from django.core.exceptions import (
    MultipleObjectsReturned,
    PermissionDenied,
    ValidationError,
)
from django.http import HttpRequest
from requests import RequestException

from accounts.adapters import GoogleAdapter
from accounts.oauth_state import state_issue, state_take
from accounts.services import SocialIdentity, social_login
from accounts.tokens import TokenPair
from janserver.errors import ServiceUnavailable, Unauthenticated

logger = logging.getLogger("janserver.auth")

SCOPE = {"openid", "email", "profile"}
# What a failed exchange or ID-token check raises inside allauth, requests and PyJWT
# (KeyError/ValueError: malformed JSON from the token or certificate endpoint).
EXCHANGE_FAILURES = (
    OAuth2Error,
    ProviderException,
    RequestException,
    PermissionDenied,
    ValidationError,
    jwt.PyJWTError,
    KeyError,
    ValueError,
)


class GoogleNotConfigured(ServiceUnavailable):
    default_message = (
        "Google login is not configured on this server (OAUTH2_GOOGLE_CLIENT_ID, "
        "OAUTH2_GOOGLE_CLIENT_SECRET and OAUTH2_GOOGLE_REDIRECT_URL)."
    )


def _provider(request: HttpRequest) -> GoogleProvider:
    if not settings.OAUTH2_GOOGLE_REDIRECT_URL:
        raise GoogleNotConfigured()
    try:
        provider = get_adapter(request).get_provider(request, GoogleAdapter.provider_id)
    except (SocialApp.DoesNotExist, MultipleObjectsReturned):
        raise GoogleNotConfigured() from None
    if not provider.app.client_id:
        raise GoogleNotConfigured()
    return provider


def google_login_start(*, request: HttpRequest) -> tuple[str, str]:
    """Return Google's authorization URL and its one-time `state`.

    The PKCE code verifier stays server-side (the cache), keyed by a hash of the state.
    """
    provider = _provider(request)
    adapter = GoogleAdapter(request)
    client = adapter.get_client(request, provider.app)
    client.state, pkce = state_issue(provider_id=GoogleAdapter.provider_id)
    params = {**provider.get_auth_params(), **pkce}
    scope = sorted(SCOPE | set(provider.get_scope()))
    url = client.get_redirect_url(adapter.authorize_url, scope, params)
    return url, client.state


def _identity(login: SocialLogin) -> SocialIdentity:
    claims = dict(login.account.extra_data)
    return SocialIdentity(
        provider=GoogleAdapter.provider_id,
        uid=login.account.uid,
        email=str(claims.get("email") or ""),
        email_verified=claims.get("email_verified") in (True, "true"),
        name=str(claims.get("name") or ""),
        claims=claims,
    )


def _identity_fetch(
    *, request: HttpRequest, provider: GoogleProvider, code: str, verifier: str
) -> SocialIdentity:
    adapter = GoogleAdapter(request, code=code)
    try:
        login = adapter.exchange(request, provider.app, verifier)
        return _identity(login)
    except EXCHANGE_FAILURES:
        # The details (Google's own message included) go to the log, never the caller.
        logger.warning("Google login failed", exc_info=True)
        raise Unauthenticated() from None


def google_login_complete(
    *,
    request: HttpRequest,
    code: str,
    state: str,
    expected_state: str | None,
    refresh: str | None,
) -> TokenPair:
    """Finish a Google login and start a session (see services.social_login).

    `state` must equal `expected_state` (the state cookie) and be unused (InvalidState,
    400, like Jan); the code is exchanged with its PKCE verifier and the ID token
    verified (signature, issuer, audience, expiry). Every failure of the identity is
    the one Unauthenticated.
    """
    provider = _provider(request)
    verifier = state_take(
        provider_id=GoogleAdapter.provider_id, state=state, expected=expected_state
    )
    identity = _identity_fetch(
        request=request, provider=provider, code=code, verifier=verifier
    )
    return social_login(identity=identity, refresh=refresh, link_by_email=True)
