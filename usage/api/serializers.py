"""Query parameters of the usage and costs reports, and prices in and out."""

from typing import Any

from rest_framework import serializers

from janserver.api.fields import ConstantField, UnixTimestampField
from usage.models import ModelPrice

# 9999-12-31T23:59:59Z: any later Unix time is surely a mistake (or milliseconds).
MAX_TIME = 253_402_300_799
MAX_IDS = 50
COMPLETIONS_GROUPS = (
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    "api_source",
)
COSTS_GROUPS = ("project_id", "user_id", "api_key_id", "line_item", "api_source")
# bucket_width: (default limit, largest limit), OpenAI's.
COMPLETIONS_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
COSTS_LIMITS = {"1d": (7, 180)}


# What a filter's values may hold: public ids (`proj_…`, `key_…`, `user_…`), and model
# ids and line items (`<model>, input`) in printable ASCII. Bounded, so that a query string stays within
# what HTTP servers parse (a request line of hundreds of kilobytes is refused by the
# server before the application sees it).
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
NAME_PATTERN = r"^[\x20-\x7e]{1,200}$"


def _ids(pattern: str = ID_PATTERN, **kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.RegexField(
            pattern, error_messages={"invalid": "Not a valid id."}
        ),
        max_length=MAX_IDS,
        required=False,
        default=list,
        **kwargs,
    )


class _ReportQuerySerializer(serializers.Serializer):
    """What both reports take; subclasses name their groups and bucket widths."""

    groups: tuple[str, ...] = ()
    limits: dict[str, tuple[int, int]] = {}

    start_time = serializers.IntegerField(min_value=0, max_value=MAX_TIME)
    end_time = serializers.IntegerField(min_value=1, max_value=MAX_TIME, required=False)
    bucket_width = serializers.CharField(required=False, default="1d")
    limit = serializers.IntegerField(min_value=1, required=False)
    group_by = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list
    )
    project_ids = _ids()
    api_key_ids = _ids()
    page = serializers.CharField(required=False, max_length=1000)

    def validate_bucket_width(self, value: str) -> str:
        if value not in self.limits:
            raise serializers.ValidationError(
                f"bucket_width must be one of {', '.join(self.limits)}; got {value!r}."
            )
        return value

    def validate_group_by(self, value: list[str]) -> list[str]:
        for name in value:
            if name not in self.groups:
                raise serializers.ValidationError(
                    f"Cannot group by {name!r}; use any of {', '.join(self.groups)}."
                )
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end_time")
        if end is not None and end <= attrs["start_time"]:
            raise serializers.ValidationError(
                {"end_time": "end_time must be after start_time."}
            )
        default, largest = self.limits[attrs["bucket_width"]]
        limit = attrs.setdefault("limit", default)
        if limit > largest:
            raise serializers.ValidationError(
                {
                    "limit": f"limit must be at most {largest} for "
                    f"bucket_width {attrs['bucket_width']}."
                }
            )
        return attrs


class UsageCompletionsQuerySerializer(_ReportQuerySerializer):
    groups = COMPLETIONS_GROUPS
    limits = COMPLETIONS_LIMITS

    user_ids = _ids()
    models = _ids(NAME_PATTERN)
    batch = serializers.BooleanField(required=False, allow_null=True, default=None)


class CostsQuerySerializer(_ReportQuerySerializer):
    groups = COSTS_GROUPS
    limits = COSTS_LIMITS

    line_items = _ids(NAME_PATTERN)

    def validate_line_items(self, value: list[str]) -> list[str]:
        for item in value:
            model, _, kind = item.rpartition(", ")
            if not model or kind not in ("input", "output"):
                raise serializers.ValidationError(
                    f"Line item {item!r} is not '<model>, input' or '<model>, output'."
                )
        return value


class ModelPriceSerializer(serializers.ModelSerializer):
    object = ConstantField("organization.model_price")
    id = serializers.CharField(source="public_id", read_only=True)
    created_at = UnixTimestampField()
    updated_at = UnixTimestampField()
    input_per_million = serializers.DecimalField(
        max_digits=12, decimal_places=6, coerce_to_string=True
    )
    output_per_million = serializers.DecimalField(
        max_digits=12, decimal_places=6, coerce_to_string=True
    )
    currency = ConstantField("usd")

    class Meta:
        model = ModelPrice
        fields = [
            "object",
            "id",
            "model",
            "input_per_million",
            "output_per_million",
            "currency",
            "created_at",
            "updated_at",
        ]


class ModelPriceCreateSerializer(serializers.Serializer):
    """Prices come as JSON numbers or decimal strings; the service checks them."""

    model = serializers.CharField(max_length=200)
    input_per_million = serializers.JSONField()
    output_per_million = serializers.JSONField()


class ModelPriceUpdateSerializer(serializers.Serializer):
    input_per_million = serializers.JSONField(required=False)
    output_per_million = serializers.JSONField(required=False)
