"""OpenAPI descriptions of the admin API's envelopes (lists, deletions, Jan's wrapper)."""

import functools
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers

from janserver.api.pagination import ListQuerySerializer


def list_of(serializer_class: type[serializers.Serializer], name: str) -> Any:
    """Return the schema of a list envelope around `serializer_class` objects."""
    return inline_serializer(
        name=f"{name}List",
        fields={
            "object": serializers.CharField(default="list"),
            "data": serializer_class(many=True),
            "first_id": serializers.CharField(allow_null=True),
            "last_id": serializers.CharField(allow_null=True),
            "has_more": serializers.BooleanField(),
        },
    )


@functools.cache  # one component per name, however many views use it
def deleted(name: str) -> Any:
    """Return the answers of a deletion: OpenAI's confirmation object, with a 200."""
    return {
        200: inline_serializer(
            name=f"{name}Deleted",
            fields={
                "object": serializers.CharField(),
                "id": serializers.CharField(),
                "deleted": serializers.BooleanField(),
            },
        )
    }


def jan_result(serializer: Any, name: str) -> Any:
    """Return the schema of Jan's {"status": "000000", "result": …} wrapper."""
    return inline_serializer(
        name=f"Jan{name}Response",
        fields={"status": serializers.CharField(), "result": serializer},
    )


def list_schema(
    operation_id: str,
    serializer_class: type[serializers.Serializer],
    name: str,
    query: type[serializers.Serializer] = ListQuerySerializer,
) -> Any:
    """Describe a paginated list operation."""
    return extend_schema(
        operation_id=operation_id,
        parameters=[query],
        responses=list_of(serializer_class, name),
    )


def operation(operation_id: str, *, request: Any = None, responses: Any) -> Any:
    """Describe one operation (OpenAI's operation ids where OpenAI has the route)."""
    return extend_schema(
        operation_id=operation_id, request=request, responses=responses
    )
