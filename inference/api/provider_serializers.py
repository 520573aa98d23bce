"""Model provider API shapes: objects never carry a provider's API key, only its hint."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inference.models import Provider, ProviderVendor
from inference.services import API_KEY_MAX_LENGTH, NAME_MAX_LENGTH, WEIGHT_MAX
from janserver.api.fields import ConstantField, UnixTimestampField

BASE_URL_MAX_LENGTH = 500


# Output objects.


class ProviderModelSerializer(serializers.Serializer):
    id = serializers.CharField(source="model_id")
    object = ConstantField("model")
    active = serializers.BooleanField()
    context_length = serializers.IntegerField(allow_null=True)


def models_data(provider: Provider) -> list[dict[str, Any]]:
    """The provider's models by id (prefetched by the selectors, or loaded now)."""
    models = sorted(provider.models.all(), key=lambda model: model.model_id)
    return list(ProviderModelSerializer(models, many=True).data)


class ProviderSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = ConstantField("model.provider")
    name = serializers.CharField()
    vendor = serializers.CharField()
    base_url = serializers.CharField()
    scope = serializers.CharField()
    organization_id = serializers.CharField(
        source="organization.public_id", allow_null=True
    )
    project_id = serializers.CharField(source="project.public_id", allow_null=True)
    active = serializers.BooleanField()
    weight = serializers.IntegerField()
    api_key_hint = serializers.SerializerMethodField()
    created_at = UnixTimestampField()
    models = serializers.SerializerMethodField()

    def get_api_key_hint(self, provider: Provider) -> str | None:
        return provider.api_key_hint or None

    @extend_schema_field(ProviderModelSerializer(many=True))
    def get_models(self, provider: Provider) -> list[dict[str, Any]]:
        return models_data(provider)


class ProviderSyncedSerializer(ProviderSerializer):
    sync_error = serializers.CharField(
        allow_null=True,
        help_text="Why the models could not be fetched (the provider is saved "
        "anyway, with the models it had), or null.",
    )


class ModelProviderSerializer(serializers.Serializer):
    """A provider as its users see it: no URL, no key."""

    id = serializers.CharField(source="public_id")
    object = ConstantField("model.provider")
    name = serializers.CharField()
    vendor = serializers.CharField()
    scope = serializers.CharField()
    models = serializers.SerializerMethodField()

    @extend_schema_field(ProviderModelSerializer(many=True))
    def get_models(self, provider: Provider) -> list[dict[str, Any]]:
        return models_data(provider)


# Input.


class ProviderUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH, required=False)
    base_url = serializers.CharField(max_length=BASE_URL_MAX_LENGTH, required=False)
    api_key = serializers.CharField(
        max_length=API_KEY_MAX_LENGTH,
        required=False,
        allow_blank=True,
        allow_null=True,
        write_only=True,
        help_text="Stored encrypted and never returned; empty or null removes it.",
    )
    vendor = serializers.ChoiceField(choices=ProviderVendor.choices, required=False)
    weight = serializers.IntegerField(min_value=1, max_value=WEIGHT_MAX, required=False)
    active = serializers.BooleanField(required=False)

    def validate_api_key(self, value: str | None) -> str:
        return value or ""


class ProviderCreateSerializer(ProviderUpdateSerializer):
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    base_url = serializers.CharField(max_length=BASE_URL_MAX_LENGTH)
    vendor = serializers.ChoiceField(
        choices=ProviderVendor.choices, default=ProviderVendor.VLLM
    )
    weight = serializers.IntegerField(min_value=1, max_value=WEIGHT_MAX, default=1)
    active = serializers.BooleanField(default=True)
