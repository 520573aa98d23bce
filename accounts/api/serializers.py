"""Request and response bodies of the login endpoints (Jan's shapes)."""

from typing import Any

from rest_framework import serializers

from accounts.models import User
from accounts.tokens import TokenPair

# Long enough for any provider's authorization code; the state is ours (43 characters).
CODE_MAX_LENGTH = 2048
STATE_MAX_LENGTH = 256


class AccessTokenSerializer(serializers.Serializer):
    object = serializers.SerializerMethodField()
    access_token = serializers.CharField(source="access")
    expires_in = serializers.IntegerField()

    def get_object(self, pair: TokenPair) -> str:
        return "access.token"


class LogoutSerializer(serializers.Serializer):
    object = serializers.CharField(default="logout")
    status = serializers.CharField(default="ok")


class MeSerializer(serializers.ModelSerializer):
    object = serializers.SerializerMethodField()
    id = serializers.CharField(source="public_id")

    class Meta:
        model = User
        fields = ["object", "id", "email", "name"]

    def get_object(self, user: User) -> str:
        return "me"


class LoginUrlSerializer(serializers.Serializer):
    """`<provider>.login.url`, as Jan's `google.login.url`."""

    object = serializers.SerializerMethodField()
    url = serializers.CharField()

    def get_object(self, data: dict[str, Any]) -> str:
        return f"{self.context['provider']}.login.url"


class OAuthCallbackSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=CODE_MAX_LENGTH)
    state = serializers.CharField(max_length=STATE_MAX_LENGTH)


EMAIL_MAX_LENGTH = 254
PASSWORD_MAX_LENGTH = 4096
KEY_MAX_LENGTH = 512


def _password() -> serializers.CharField:
    # Passwords are taken as typed: spaces count.
    return serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)


class SignupSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=EMAIL_MAX_LENGTH)
    password = _password()
    invite_code = serializers.CharField(
        max_length=STATE_MAX_LENGTH, required=False, default=""
    )


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=EMAIL_MAX_LENGTH)
    password = _password()


class VerifyEmailSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=KEY_MAX_LENGTH)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=EMAIL_MAX_LENGTH)


class PasswordResetConfirmSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=KEY_MAX_LENGTH)
    password = _password()


class VerificationSentSerializer(serializers.Serializer):
    object = serializers.CharField(default="email.verification_sent")
    email = serializers.CharField()


class EmailVerifiedSerializer(serializers.Serializer):
    object = serializers.CharField(default="email.verified")
    email = serializers.CharField()


class StatusSerializer(serializers.Serializer):
    object = serializers.CharField()
    status = serializers.CharField(default="ok")
