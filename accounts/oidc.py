"""Single sign-on with OpenID Connect providers through django-allauth's openid_connect
provider: the authorization URL and the code exchange, per configured app."""

import logging

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers import registry
from allauth.socialaccount.providers.openid_connect.provider import (
    OpenIDConnectProvider,
)
from django.core.exceptions import MultipleObjectsReturned
from django.http import HttpRequest
from requests import RequestException

from accounts.adapters import OIDCAdapter
from accounts.google import EXCHANGE_FAILURES, SCOPE
from accounts.models import normalize_email
from accounts.oauth_state import state_issue, state_take
from accounts.services import SocialIdentity, social_login
from accounts.tokens import TokenPair
from janserver.errors import Forbidden, NotFound, ServiceUnavailable, Unauthenticated

logger = logging.getLogger("janserver.auth")

OIDC = OpenIDConnectProvider.id
# Reading the discovery document at login start.
DISCOVERY_FAILURES = (RequestException, KeyError, ValueError)


class ProviderNotFound(NotFound):
    default_message = "No OpenID Connect login provider with this id."

    def __init__(self) -> None:
        super().__init__(param="provider")


class ProviderNotConfigured(ServiceUnavailable):
    default_message = (
        "This OpenID Connect provider is not fully configured on this server (it "
        "needs a client id, settings.server_url and settings.redirect_url)."
    )


class ProviderUnreachable(ServiceUnavailable):
    default_message = "The identity provider could not be reached. Retry shortly."


class EmailDomainNotAllowed(Forbidden):
    code = "email_domain_not_allowed"
    default_message = (
        "Accounts with this email domain may not sign in with this provider."
    )


def _provider(request: HttpRequest, provider_id: str) -> OpenIDConnectProvider:
    # A provider class's own id ("openid_connect", "google", ...) is no app's
    # provider_id: allauth would look it up differently.
    if registry.get_class(provider_id) is not None:
        raise ProviderNotFound()
    try:
        provider = get_adapter(request).get_provider(request, provider_id)
    except SocialApp.DoesNotExist:
        raise ProviderNotFound() from None
    except MultipleObjectsReturned:
        raise ProviderNotConfigured() from None
    if not isinstance(provider, OpenIDConnectProvider):
        raise ProviderNotFound()
    app = provider.app
    if not (app.client_id and app.settings.get("server_url")):
        raise ProviderNotConfigured()
    if not app.settings.get("redirect_url"):
        raise ProviderNotConfigured()
    return provider


def oidc_login_start(*, request: HttpRequest, provider_id: str) -> tuple[str, str]:
    """Return the provider's authorization URL and its one-time `state` (PKCE S256).

    Raise ProviderNotFound for an unknown id, ProviderNotConfigured for an app
    without its settings, ProviderUnreachable when the discovery document fails.
    """
    provider = _provider(request, provider_id)
    adapter = OIDCAdapter(request, provider.app.provider_id)
    try:
        client = adapter.get_client(request, provider.app)
        authorize_url = adapter.authorize_url
    except DISCOVERY_FAILURES:
        logger.warning("OIDC discovery failed for %s", provider_id, exc_info=True)
        raise ProviderUnreachable() from None
    client.state, pkce = state_issue(provider_id=provider.app.provider_id)
    params = {**provider.get_auth_params(), **pkce}
    scope = sorted(SCOPE | set(provider.get_scope()))
    return client.get_redirect_url(authorize_url, scope, params), client.state


def _identity(provider: OpenIDConnectProvider, login: SocialLogin) -> SocialIdentity:
    claims = dict(login.account.extra_data)
    verified = claims.get("email_verified") in (True, "true")
    if not provider.app.settings.get("require_verified_email", True):
        # For providers that do not send email_verified (Microsoft Entra ID) but
        # only issue emails their tenant controls.
        verified = True
    return SocialIdentity(
        provider=provider.app.provider_id,
        uid=login.account.uid,
        email=str(claims.get("email") or ""),
        email_verified=verified,
        name=str(claims.get("name") or claims.get("preferred_username") or ""),
        claims=claims,
    )


def _identity_fetch(
    *, request: HttpRequest, provider: OpenIDConnectProvider, code: str, verifier: str
) -> SocialIdentity:
    adapter = OIDCAdapter(request, provider.app.provider_id, code=code)
    try:
        login = adapter.exchange(request, provider.app, verifier)
        return _identity(provider, login)
    except EXCHANGE_FAILURES:
        # The details (the provider's own message included) go to the log only.
        logger.warning(
            "OIDC login failed (%s)", provider.app.provider_id, exc_info=True
        )
        raise Unauthenticated() from None


def _domain_check(provider: OpenIDConnectProvider, identity: SocialIdentity) -> None:
    domains = {
        str(domain).strip().lower().lstrip("@")
        for domain in provider.app.settings.get("email_domains") or []
    }
    if not domains:
        return
    _, _, domain = normalize_email(identity.email).rpartition("@")
    if domain not in domains:
        raise EmailDomainNotAllowed()


def oidc_login_complete(
    *,
    request: HttpRequest,
    provider_id: str,
    code: str,
    state: str,
    expected_state: str | None,
    refresh: str | None,
) -> TokenPair:
    """Finish an OIDC login and start a session (see services.social_login).

    The state must equal the cookie's, be unused and belong to this provider
    (InvalidState, 400); the code is exchanged with its PKCE verifier and the ID
    token verified (signature against the JWKS, issuer, audience, expiry): any
    failure there is the one Unauthenticated. The user is matched by the provider's
    `sub`, never by email alone; an app's settings.email_domains, when set, admit
    only those domains (EmailDomainNotAllowed, 403).
    """
    provider = _provider(request, provider_id)
    verifier = state_take(
        provider_id=provider.app.provider_id, state=state, expected=expected_state
    )
    identity = _identity_fetch(
        request=request, provider=provider, code=code, verifier=verifier
    )
    _domain_check(provider, identity)
    return social_login(identity=identity, refresh=refresh, link_by_email=False)
