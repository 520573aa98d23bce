"""Login endpoints: guest and Google logins, refresh-token rotation, logout, me."""

from django.conf import settings
from django.http import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import (
    AccessTokenSerializer,
    GoogleCallbackSerializer,
    GoogleLoginUrlSerializer,
    LogoutSerializer,
    MeSerializer,
)
from accounts.google import STATE_TTL_SECONDS, google_login_complete, google_login_start
from accounts.services import guest_login
from accounts.tokens import TokenPair, session_revoke, tokens_rotate
from janserver.auth import BearerAuthentication, IsAuthenticated
from janserver.errors import Unauthenticated
from janserver.throttling import AuthRateThrottle

STATE_COOKIE_NAME = "jan_oauth_state"


# Cookies: the refresh token is never sent cross-site (Strict); the OAuth state cookie
# must survive the top-level return from Google (Lax). JavaScript reads neither.
def _cookie_set(
    response: HttpResponseBase, name: str, value: str, *, max_age: int, samesite: str
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=not settings.DEBUG,
        httponly=True,
        samesite=samesite,  # type: ignore[arg-type]
    )


def refresh_cookie_set(response: HttpResponseBase, refresh: str) -> None:
    lifetime = int(settings.REFRESH_TOKEN_LIFETIME.total_seconds())
    _cookie_set(
        response,
        settings.REFRESH_COOKIE_NAME,
        refresh,
        max_age=lifetime,
        samesite="Strict",
    )


def refresh_cookie_clear(response: HttpResponseBase) -> None:
    _cookie_set(
        response, settings.REFRESH_COOKIE_NAME, "", max_age=0, samesite="Strict"
    )


def refresh_cookie_get(request: Request) -> str | None:
    return request.COOKIES.get(settings.REFRESH_COOKIE_NAME) or None


def state_cookie_set(response: HttpResponseBase, state: str) -> None:
    _cookie_set(
        response, STATE_COOKIE_NAME, state, max_age=STATE_TTL_SECONDS, samesite="Lax"
    )


def state_cookie_clear(response: HttpResponseBase) -> None:
    _cookie_set(response, STATE_COOKIE_NAME, "", max_age=0, samesite="Lax")


def _token_response(pair: TokenPair) -> Response:
    response = Response(AccessTokenSerializer(pair).data)
    response["Cache-Control"] = "no-store"
    refresh_cookie_set(response, pair.refresh)
    return response


class GuestLoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=None, responses=AccessTokenSerializer)
    def post(self, request: Request) -> Response:
        return _token_response(guest_login(refresh=refresh_cookie_get(request)))


class RefreshTokenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(responses=AccessTokenSerializer)
    def get(self, request: Request) -> Response:
        refresh = refresh_cookie_get(request)
        if refresh is None:
            raise Unauthenticated()
        _, pair = tokens_rotate(refresh=refresh)
        return _token_response(pair)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, Unauthenticated):
            refresh_cookie_clear(response)
        return response


class LogoutView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses=LogoutSerializer)
    def get(self, request: Request) -> Response:
        refresh = refresh_cookie_get(request)
        if refresh is not None:
            session_revoke(refresh=refresh)
        response = Response(LogoutSerializer({}).data)
        refresh_cookie_clear(response)
        return response


class MeView(APIView):
    authentication_classes = [BearerAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class GoogleLoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses=GoogleLoginUrlSerializer)
    def get(self, request: Request) -> Response:
        url, state = google_login_start(request=request._request)
        response = Response(GoogleLoginUrlSerializer({"url": url}).data)
        response["Cache-Control"] = "no-store"
        state_cookie_set(response, state)
        return response


class GoogleCallbackView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=GoogleCallbackSerializer, responses=AccessTokenSerializer)
    def post(self, request: Request) -> Response:
        body = GoogleCallbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        pair = google_login_complete(
            request=request._request,
            code=body.validated_data["code"],
            state=body.validated_data["state"],
            expected_state=request.COOKIES.get(STATE_COOKIE_NAME),
            refresh=refresh_cookie_get(request),
        )
        response = _token_response(pair)
        state_cookie_clear(response)
        return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, Unauthenticated):
            state_cookie_clear(response)
        return response
