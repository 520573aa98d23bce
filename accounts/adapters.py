"""django-allauth adapters: Google's and OpenID Connect's OAuth2 adapters, fitted to a JSON
API callback, and the account adapter of password accounts."""

from typing import Any

import jwt
from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.google.views import GoogleOAuth2Adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.openid_connect.views import (
    OpenIDConnectOAuth2Adapter,
)
from django.conf import settings
from django.http import HttpRequest
from django.utils.http import urlencode

# Google signs its ID tokens with RS256 only; any other `alg` header is an attack.
GOOGLE_SIGNING_ALGORITHM = "RS256"
# What an OpenID Connect provider may sign ID tokens with: public-key algorithms only
# (an HS256 token would be "signed" with the client secret, which the client knows).
OIDC_SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


def _id_token_header(response: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    id_token = response.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OAuth2Error("The token response has no id_token.")
    try:
        return id_token, jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise OAuth2Error("The id_token is malformed.") from exc


class JSONCodeMixin:
    """Take the authorization code from the JSON body rather than form data."""

    code: str
    did_fetch_access_token: bool

    def get_access_token_data(
        self,
        request: HttpRequest,
        app: SocialApp,
        client: OAuth2Client,
        pkce_code_verifier: str | None = None,
    ) -> dict[str, Any]:
        data = client.get_access_token(self.code, pkce_code_verifier=pkce_code_verifier)
        self.did_fetch_access_token = True
        return data

    def exchange(
        self, request: HttpRequest, app: SocialApp, verifier: str
    ) -> SocialLogin:
        """Trade the code (with its PKCE verifier) for tokens and the login they prove
        (allauth's OAuth2 callback steps, without its views)."""
        adapter: Any = self  # the OAuth2Adapter this mixin is combined with
        client = adapter.get_client(request, app)
        data = self.get_access_token_data(
            request, app, client, pkce_code_verifier=verifier
        )
        token = adapter.parse_token(data)
        return adapter.complete_login(request, app, token, response=data)


class GoogleAdapter(JSONCodeMixin, GoogleOAuth2Adapter):
    """Google's adapter with a fixed redirect URI, the code passed in, and the
    ID token's signature always verified.
    """

    def __init__(self, request: HttpRequest, *, code: str = "") -> None:
        super().__init__(request)
        self.code = code

    def get_callback_url(self, request: HttpRequest, app: SocialApp) -> str:
        # Never derived from the request: the URL registered with Google, exactly.
        return settings.OAUTH2_GOOGLE_REDIRECT_URL

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any
    ) -> SocialLogin:
        # allauth skips the signature check for a token fetched over TLS; the provider's
        # verify_token checks it anyway (JWKS, issuer, audience, expiry), so that a
        # token endpoint that is not Google cannot mint identities.
        id_token, header = _id_token_header(kwargs["response"])
        if header.get("alg") != GOOGLE_SIGNING_ALGORITHM or not header.get("kid"):
            raise OAuth2Error("The id_token is not signed with a Google RS256 key.")
        return self.get_provider().verify_token(request, {"id_token": id_token})


class OIDCAdapter(JSONCodeMixin, OpenIDConnectOAuth2Adapter):
    """allauth's OpenID Connect adapter with the app's registered redirect URI, the
    code passed in, and the ID token's signature always verified against the JWKS.
    """

    def __init__(
        self, request: HttpRequest, provider_id: str, *, code: str = ""
    ) -> None:
        super().__init__(request, provider_id)
        self.code = code

    def get_callback_url(self, request: HttpRequest, app: SocialApp) -> str:
        return str(app.settings.get("redirect_url") or "")

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any
    ) -> SocialLogin:
        # As for Google: allauth would skip the signature of a token fetched from the
        # token endpoint; verify_token checks signature, issuer, audience and expiry.
        id_token, header = _id_token_header(kwargs["response"])
        if header.get("alg") not in OIDC_SIGNING_ALGORITHMS or not header.get("kid"):
            raise OAuth2Error("The id_token is not signed with a public key.")
        return self.get_provider().verify_token(request, {"id_token": id_token})


def frontend_link(base: str, key: str) -> str:
    """Return the front end's page `base` with `?key=<key>`, or the key when unset."""
    if not base:
        return key
    return f"{base}{'&' if '?' in base else '?'}{urlencode({'key': key})}"


class AccountAdapter(DefaultAccountAdapter):
    """allauth's account adapter for a JSON API: links to the front end's pages, no
    flash messages, and sign-up as SIGNUP_MODE says.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return settings.SIGNUP_MODE != "closed"

    def add_message(self, *args: Any, **kwargs: Any) -> None:
        # The API answers in JSON; allauth's flash messages would only fill a cookie.
        return

    def get_email_confirmation_url(
        self, request: HttpRequest, emailconfirmation: Any
    ) -> str:
        return frontend_link(settings.EMAIL_VERIFICATION_URL, emailconfirmation.key)

    def get_reset_password_from_key_url(self, key: str) -> str:
        return frontend_link(settings.PASSWORD_RESET_URL, key)

    def send_account_already_exists_mail(self, email: str) -> None:
        # allauth's own would link to its HTML views, which this API does not serve.
        context = {"signup_url": "", "password_reset_url": settings.PASSWORD_RESET_URL}
        self.send_mail("account/email/account_already_exists", email, context)
