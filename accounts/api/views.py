"""Login endpoints: guest login, refresh-token rotation, logout, me."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.cookies import (
    refresh_cookie_clear,
    refresh_cookie_get,
    token_response,
)
from accounts.api.serializers import (
    AccessTokenSerializer,
    LogoutSerializer,
    MeSerializer,
)
from accounts.services import guest_login
from accounts.tokens import session_revoke, tokens_rotate
from janserver.auth import BearerAuthentication, IsAuthenticated
from janserver.errors import Unauthenticated
from janserver.throttling import AuthRateThrottle


class GuestLoginView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    @extend_schema(request=None, responses=AccessTokenSerializer)
    def post(self, request: Request) -> Response:
        return token_response(guest_login(refresh=refresh_cookie_get(request)))


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
        return token_response(pair)

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
