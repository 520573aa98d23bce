"""django-allauth adapters: Google's OAuth2 adapter, fitted to a JSON API callback."""

from typing import Any

import jwt
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.google.views import GoogleOAuth2Adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from django.conf import settings
from django.http import HttpRequest

# Google signs its ID tokens with RS256 only; any other `alg` header is an attack.
GOOGLE_SIGNING_ALGORITHM = "RS256"


class GoogleAdapter(GoogleOAuth2Adapter):
    """Google's adapter with a fixed redirect URI, the code passed in, and the
    ID token's signature always verified.
    """

    def __init__(self, request: HttpRequest, *, code: str = "") -> None:
        super().__init__(request)
        self.code = code

    def get_callback_url(self, request: HttpRequest, app: SocialApp) -> str:
        # Never derived from the request: the URL registered with Google, exactly.
        return settings.OAUTH2_GOOGLE_REDIRECT_URL

    def get_access_token_data(
        self,
        request: HttpRequest,
        app: SocialApp,
        client: OAuth2Client,
        pkce_code_verifier: str | None = None,
    ) -> dict[str, Any]:
        # allauth reads the code from GET/POST form data; this API takes it from JSON.
        data = client.get_access_token(self.code, pkce_code_verifier=pkce_code_verifier)
        self.did_fetch_access_token = True
        return data

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs: Any
    ) -> SocialLogin:
        # allauth skips the signature check for a token fetched over TLS; the provider's
        # verify_token checks it anyway (JWKS, issuer, audience, expiry), so that a
        # token endpoint that is not Google cannot mint identities.
        id_token = kwargs["response"].get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OAuth2Error("The token response has no id_token.")
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise OAuth2Error("The id_token is malformed.") from exc
        if header.get("alg") != GOOGLE_SIGNING_ALGORITHM or not header.get("kid"):
            raise OAuth2Error("The id_token is not signed with a Google RS256 key.")
        return self.get_provider().verify_token(request, {"id_token": id_token})
