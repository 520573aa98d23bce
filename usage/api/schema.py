"""OpenAPI descriptions of the reports: OpenAI's pages of buckets of results."""

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers


def _nullable(field: type[serializers.Field]) -> serializers.Field:
    return field(allow_null=True, required=False)


def _page(name: str, result: Any) -> Any:
    bucket = inline_serializer(
        name=f"{name}Bucket",
        fields={
            "object": serializers.CharField(),
            "start_time": serializers.IntegerField(),
            "end_time": serializers.IntegerField(),
            "results": result,
        },
    )
    return inline_serializer(
        name=f"{name}Page",
        fields={
            "object": serializers.CharField(),
            "data": serializers.ListField(child=bucket),
            "has_more": serializers.BooleanField(),
            "next_page": serializers.CharField(allow_null=True),
        },
    )


USAGE_RESULT = inline_serializer(
    name="UsageCompletionsResult",
    many=True,
    fields={
        "object": serializers.CharField(),
        "input_tokens": serializers.IntegerField(),
        "output_tokens": serializers.IntegerField(),
        "input_cached_tokens": serializers.IntegerField(),
        "input_audio_tokens": serializers.IntegerField(),
        "output_audio_tokens": serializers.IntegerField(),
        "num_model_requests": serializers.IntegerField(),
        "project_id": _nullable(serializers.CharField),
        "user_id": _nullable(serializers.CharField),
        "api_key_id": _nullable(serializers.CharField),
        "model": _nullable(serializers.CharField),
        "batch": _nullable(serializers.BooleanField),
        "service_tier": _nullable(serializers.CharField),
        "api_source": _nullable(serializers.CharField),
    },
)
COSTS_RESULT = inline_serializer(
    name="CostsResult",
    many=True,
    fields={
        "object": serializers.CharField(),
        "amount": inline_serializer(
            name="CostsAmount",
            fields={
                "value": serializers.FloatField(),
                "currency": serializers.CharField(),
            },
        ),
        "project_id": _nullable(serializers.CharField),
        "user_id": _nullable(serializers.CharField),
        "api_key_id": _nullable(serializers.CharField),
        "line_item": _nullable(serializers.CharField),
        "api_source": _nullable(serializers.CharField),
        "quantity": _nullable(serializers.IntegerField),
        "quantity_unit": _nullable(serializers.CharField),
    },
)
USAGE_PAGE = _page("UsageCompletions", USAGE_RESULT)
COSTS_PAGE = _page("Costs", COSTS_RESULT)


def report_schema(operation_id: str, query: Any, page: Any) -> Any:
    """Describe a report: its query parameters and its page of buckets."""
    return extend_schema(operation_id=operation_id, parameters=[query], responses=page)
