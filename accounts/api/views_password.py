"""Email and password accounts: sign-up, login, email verification, password reset."""

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.cookies import refresh_cookie_get, token_response
from accounts.api.serializers import (
    AccessTokenSerializer,
    EmailVerifiedSerializer,
    LoginSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    SignupSerializer,
    StatusSerializer,
    VerificationSentSerializer,
    VerifyEmailSerializer,
)
from accounts.passwords import (
    email_verify,
    password_login,
    password_reset_confirm,
    password_reset_request,
    password_signup,
)
from janserver.throttling import AuthRateThrottle

# A session when the address needs no verification, else the verification-sent object.
SIGNUP_RESPONSE = PolymorphicProxySerializer(
    component_name="SignupResponse",
    serializers=[AccessTokenSerializer, VerificationSentSerializer],
    resource_type_field_name=None,
)


class PublicView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthRateThrottle]

    def body(self, serializer_class: type, request: Request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class SignupView(PublicView):
    @extend_schema(
        request=SignupSerializer,
        responses=SIGNUP_RESPONSE,
    )
    def post(self, request: Request) -> Response:
        outcome = password_signup(
            request=request._request,
            **self.body(SignupSerializer, request),
            refresh=refresh_cookie_get(request),
        )
        if outcome.tokens is not None:
            return token_response(outcome.tokens)
        return Response(VerificationSentSerializer({"email": outcome.email}).data)


class LoginView(PublicView):
    @extend_schema(request=LoginSerializer, responses=AccessTokenSerializer)
    def post(self, request: Request) -> Response:
        pair = password_login(
            request=request._request,
            **self.body(LoginSerializer, request),
            refresh=refresh_cookie_get(request),
        )
        return token_response(pair)


class VerifyEmailView(PublicView):
    @extend_schema(request=VerifyEmailSerializer, responses=EmailVerifiedSerializer)
    def post(self, request: Request) -> Response:
        address = email_verify(
            request=request._request, **self.body(VerifyEmailSerializer, request)
        )
        return Response(EmailVerifiedSerializer({"email": address.email}).data)


class PasswordResetView(PublicView):
    @extend_schema(request=PasswordResetSerializer, responses=StatusSerializer)
    def post(self, request: Request) -> Response:
        password_reset_request(
            request=request._request, **self.body(PasswordResetSerializer, request)
        )
        return Response(StatusSerializer({"object": "password.reset.requested"}).data)


class PasswordResetConfirmView(PublicView):
    @extend_schema(request=PasswordResetConfirmSerializer, responses=StatusSerializer)
    def post(self, request: Request) -> Response:
        password_reset_confirm(
            request=request._request,
            **self.body(PasswordResetConfirmSerializer, request),
        )
        return Response(StatusSerializer({"object": "password.reset"}).data)
