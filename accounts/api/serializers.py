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
