"""OAuth logins: Google and the OpenID Connect providers (Jan's login and callback routes)."""

from typing import Any

from django.http import HttpRequest
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.cookies import (
    STATE_COOKIE_NAME,
    refresh_cookie_get,
    state_cookie_clear,
    state_cookie_set,
    token_response,
)
from accounts.api.serializers import (
    AccessTokenSerializer,
    LoginUrlSerializer,
    OAuthCallbackSerializer,
)
from accounts.google import google_login_complete, google_login_start
from accounts.oauth_state import InvalidState
from accounts.oidc import oidc_login_complete, oidc_login_start
from accounts.tokens import TokenPair
from janserver.errors import Unauthenticated
from janserver.throttling import AuthRateThrottle


def _login_url_response(name: str, url: str, state: str) -> Response:
    body = LoginUrlSerializer({"url": url}, context={"provider": name}).data
    response = Response(body)
    response["Cache-Control"] = "no-store"
    state_cookie_set(response, state)
    return response


class CallbackView(APIView):
    """POST {code, state}: the state cookie must match; it is cleared either way."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    def complete(self, request: HttpRequest, **kwargs: Any) -> TokenPair:
        raise NotImplementedError

    @extend_schema(request=OAuthCallbackSerializer, responses=AccessTokenSerializer)
    def post(self, request: Request, **kwargs: Any) -> Response:
        body = OAuthCallbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        pair = self.complete(
            request._request,
            **kwargs,
            code=body.validated_data["code"],
            state=body.validated_data["state"],
            expected_state=request.COOKIES.get(STATE_COOKIE_NAME),
            refresh=refresh_cookie_get(request),
        )
        response = token_response(pair)
        state_cookie_clear(response)
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, Unauthenticated | InvalidState):
            state_cookie_clear(response)
        return response


class GoogleLoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses=LoginUrlSerializer)
    def get(self, request: Request) -> Response:
        url, state = google_login_start(request=request._request)
        return _login_url_response("google", url, state)


class GoogleCallbackView(CallbackView):
    def complete(self, request: HttpRequest, **kwargs: Any) -> TokenPair:
        return google_login_complete(request=request, **kwargs)


class OIDCLoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(responses=LoginUrlSerializer)
    def get(self, request: Request, provider: str) -> Response:
        url, state = oidc_login_start(request=request._request, provider_id=provider)
        return _login_url_response(provider, url, state)


class OIDCCallbackView(CallbackView):
    def complete(self, request: HttpRequest, **kwargs: Any) -> TokenPair:
        provider = kwargs.pop("provider")
        return oidc_login_complete(request=request, provider_id=provider, **kwargs)
