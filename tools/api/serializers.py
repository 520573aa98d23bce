"""MCP server API shapes: objects never carry the auth header, only its hint."""

from typing import Any

from rest_framework import serializers

from janserver.api.fields import ConstantField, UnixTimestampField
from tools.models import McpServer
from tools.services import (
    DESCRIPTION_MAX_LENGTH,
    HEADER_VALUE_MAX_LENGTH,
    TOOL_NAME_MAX_LENGTH,
    URL_MAX_LENGTH,
)


class McpServerSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = ConstantField("organization.mcp_server")
    label = serializers.CharField()  # type: ignore[assignment]
    description = serializers.CharField()
    url = serializers.CharField()
    auth_header_name = serializers.SerializerMethodField()
    auth_header_hint = serializers.SerializerMethodField()
    allowed_tools = serializers.ListField(
        child=serializers.CharField(), allow_null=True
    )
    all_projects = serializers.BooleanField()
    projects = serializers.SerializerMethodField()
    active = serializers.BooleanField()
    status = serializers.CharField(
        help_text="up, down or unknown: how the server answered its last tools/list."
    )
    status_detail = serializers.CharField(help_text="Why it is down, or empty.")
    checked_at = UnixTimestampField()
    created_at = UnixTimestampField()

    def get_auth_header_name(self, server: McpServer) -> str | None:
        return server.auth_header_name or None

    def get_auth_header_hint(self, server: McpServer) -> str | None:
        return server.auth_header_hint or None

    def get_projects(self, server: McpServer) -> list[str]:
        return sorted(project.public_id for project in server.projects.all())


class McpServerToolSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The name callers use: label__tool.")
    description = serializers.CharField()


class McpServerCheckedSerializer(McpServerSerializer):
    tools = McpServerToolSerializer(many=True)


class McpServerUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=32, required=False
    )
    url = serializers.CharField(max_length=URL_MAX_LENGTH, required=False)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )
    auth_header = serializers.CharField(
        max_length=HEADER_VALUE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        allow_null=True,
        write_only=True,
        help_text="The header's value (e.g. 'Bearer …'): stored encrypted, never "
        "returned; empty or null removes it.",
    )
    auth_header_name = serializers.CharField(
        max_length=100, required=False, help_text="Default: Authorization."
    )
    allowed_tools = serializers.ListField(
        child=serializers.CharField(max_length=TOOL_NAME_MAX_LENGTH),
        max_length=500,
        allow_null=True,
        required=False,
        help_text="The server's tools callers may use; null for all of them.",
    )
    all_projects = serializers.BooleanField(required=False)
    projects = serializers.ListField(
        child=serializers.CharField(max_length=40),
        max_length=1000,
        required=False,
        help_text="Ids of the organization's projects that may use the server.",
    )
    active = serializers.BooleanField(required=False)

    def validate_auth_header(self, value: str | None) -> str:
        return value or ""


class McpServerCreateSerializer(McpServerUpdateSerializer):
    label = serializers.CharField(max_length=32)  # type: ignore[assignment]
    url = serializers.CharField(max_length=URL_MAX_LENGTH)
    allowed_tools = serializers.ListField(
        child=serializers.CharField(max_length=TOOL_NAME_MAX_LENGTH),
        max_length=500,
        allow_null=True,
        default=None,
        help_text="The server's tools callers may use; null (default) for all.",
    )
    all_projects = serializers.BooleanField(default=False)
    projects = serializers.ListField(
        child=serializers.CharField(max_length=40), max_length=1000, default=list
    )
    active = serializers.BooleanField(default=True)


def checked_data(server: McpServer, tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {**McpServerSerializer(server).data, "tools": tools}
