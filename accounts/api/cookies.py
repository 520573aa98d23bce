"""The login cookies (refresh token, OAuth state) and the access-token response."""

from django.conf import settings
from django.http import HttpResponseBase
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.serializers import AccessTokenSerializer
from accounts.oauth_state import STATE_TTL_SECONDS
from accounts.tokens import TokenPair

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


def token_response(pair: TokenPair) -> Response:
    response = Response(AccessTokenSerializer(pair).data)
    response["Cache-Control"] = "no-store"
    refresh_cookie_set(response, pair.refresh)
    return response
