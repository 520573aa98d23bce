"""OpenAI's project.rate_limit object, and the body that updates it."""

from typing import Any

from rest_framework import serializers

from janserver.errors import InvalidRequest
from limits.models import LIMIT_FIELDS, RateLimit
from limits.services import limit_value

ID_PREFIX = "rl-"
# OpenAI's limits on what janserver does not serve (images, audio, batches).
UNSERVED_FIELDS = (
    "max_images_per_1_minute",
    "max_audio_megabytes_per_1_minute",
    "batch_1_day_max_input_tokens",
)


def rate_limit_object(model: str, row: RateLimit | None) -> dict[str, Any]:
    """OpenAI's project.rate_limit: a null limit is no limit."""
    return {
        "object": "project.rate_limit",
        "id": ID_PREFIX + model,
        "model": model,
        **{name: getattr(row, name) if row else None for name in LIMIT_FIELDS},
    }


class RateLimitSerializer(serializers.Serializer):
    """For the schema: what rate_limit_object() returns."""

    object = serializers.CharField(default="project.rate_limit")
    id = serializers.CharField()
    model = serializers.CharField()
    max_requests_per_1_minute = serializers.IntegerField(allow_null=True)
    max_tokens_per_1_minute = serializers.IntegerField(allow_null=True)
    max_requests_per_1_day = serializers.IntegerField(allow_null=True)
    max_concurrent_requests = serializers.IntegerField(
        allow_null=True, help_text="janserver's: requests in flight, streams included."
    )


class RateLimitUpdateSerializer(serializers.Serializer):
    """The limits to change (each optional; null removes one, 0 blocks)."""

    max_requests_per_1_minute = serializers.IntegerField(
        required=False, allow_null=True, min_value=0
    )
    max_tokens_per_1_minute = serializers.IntegerField(
        required=False, allow_null=True, min_value=0
    )
    max_requests_per_1_day = serializers.IntegerField(
        required=False, allow_null=True, min_value=0
    )
    max_concurrent_requests = serializers.IntegerField(
        required=False, allow_null=True, min_value=0
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        """Whole JSON numbers only (no strings, no fractions), unknown fields refused."""
        if not isinstance(data, dict):
            raise InvalidRequest("The body must be a JSON object.")
        for name in data:
            if name in UNSERVED_FIELDS:
                raise InvalidRequest(
                    f"`{name}` is not supported: this server serves no images, "
                    "audio or batches.",
                    param=name,
                )
            if name not in LIMIT_FIELDS:
                raise InvalidRequest(f"Unknown parameter `{name}`.", param=name)
        return {name: limit_value(name, value) for name, value in data.items()}
