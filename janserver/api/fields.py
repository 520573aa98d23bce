"""Serializer fields shared by the APIs: unix timestamps, constants, future instants."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


def unix(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


@extend_schema_field({"type": ["integer", "null"]})
class UnixTimestampField(serializers.Field):
    """A datetime written as unix seconds (null stays null)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: datetime) -> int | None:
        return unix(value)


@extend_schema_field(OpenApiTypes.STR)
class ConstantField(serializers.Field):
    """A fixed value, such as an object's `object` type."""

    def __init__(self, value: Any) -> None:
        self.value = value
        super().__init__(read_only=True, source="*")

    def to_representation(self, value: Any) -> Any:
        return self.value


@extend_schema_field({"type": ["integer", "string"]})
class FutureTimestampField(serializers.Field):
    """A future instant given as unix seconds or an RFC 3339 string with an offset."""

    default_error_messages = {
        "invalid": "Give unix seconds or an RFC 3339 timestamp with a time zone.",
        "past": "The time must be in the future.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        if isinstance(data, str) and data.strip().isdigit():
            data = int(data)
        try:
            if isinstance(data, int | float) and not isinstance(data, bool):
                value = datetime.fromtimestamp(data, tz=UTC)
            elif isinstance(data, str):
                value = datetime.fromisoformat(data.strip())
            else:
                self.fail("invalid")
        except (ValueError, OverflowError, OSError):
            self.fail("invalid")
        if value.tzinfo is None:
            self.fail("invalid")
        if value <= timezone.now():
            self.fail("past")
        return value

    def to_representation(self, value: datetime) -> int | None:
        return unix(value)
