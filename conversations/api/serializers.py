"""Conversations API shapes: OpenAI's conversation and item objects, Jan's workspaces."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.models import Conversation, Item, ItemType, Workspace
from conversations.shapes import content_rendered
from conversations.validation import TITLE_MAX_CHARS, WORKSPACE_NAME_MAX_CHARS
from janserver.api.fields import ConstantField, UnixTimestampField
from janserver.api.pagination import ListQuerySerializer

ID_MAX_LENGTH = 64


# Output objects.


class ConversationSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = ConstantField("conversation")
    created_at = UnixTimestampField()
    metadata = serializers.JSONField()
    title = serializers.SerializerMethodField()
    workspace_id = serializers.SerializerMethodField()
    # Jan's newer name of the same workspace: a chat project (/v1/projects).
    project_id = serializers.SerializerMethodField()

    def get_title(self, conversation: Conversation) -> str | None:
        return conversation.title or None

    def get_workspace_id(self, conversation: Conversation) -> str | None:
        workspace = conversation.workspace
        return None if workspace is None else workspace.public_id

    def get_project_id(self, conversation: Conversation) -> str | None:
        return self.get_workspace_id(conversation)


def _item_fields(item: Item) -> dict[str, Any]:
    if item.type == ItemType.MESSAGE:
        return {"role": item.role, "content": content_rendered(item.content)}
    if item.type == ItemType.FUNCTION_CALL:
        return {"call_id": item.call_id, "name": item.name, "arguments": item.arguments}
    if item.type == ItemType.FUNCTION_CALL_OUTPUT:
        return {"call_id": item.call_id, "output": item.output}
    details = item.details or {}
    if item.type == ItemType.WEB_SEARCH_CALL:
        return {"action": details.get("action") or {"type": "search"}}
    if item.type == ItemType.MCP_CALL:
        return {
            "server_label": details.get("server_label", ""),
            "name": item.name,
            "arguments": item.arguments,
            "output": item.output,
            "error": details.get("error"),
        }
    if item.type == ItemType.MCP_LIST_TOOLS:
        return {
            "server_label": details.get("server_label", ""),
            "tools": details.get("tools") or [],
            "error": details.get("error"),
        }
    fields: dict[str, Any] = {"summary": item.summary or []}
    if item.content is not None:
        fields["content"] = item.content
    if item.encrypted_content:
        fields["encrypted_content"] = item.encrypted_content
    return fields


@extend_schema_field(OpenApiTypes.OBJECT)
class ItemSerializer(serializers.Serializer):
    """An item in OpenAI's shape for its type, plus `object: "conversation.item"`."""

    def to_representation(self, item: Item) -> dict[str, Any]:
        return {
            "type": item.type,
            "id": item.public_id,
            "object": "conversation.item",
            "status": item.status,
            **_item_fields(item),
        }


class WorkspaceSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    object = ConstantField("workspace")
    name = serializers.CharField()
    instruction = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ChatProjectSerializer(serializers.Serializer):
    """A workspace in Jan's newer shape: a chat project of /v1/projects (not an
    organization project)."""

    id = serializers.CharField(source="public_id")
    object = ConstantField("project")
    name = serializers.CharField()
    instruction = serializers.SerializerMethodField()
    is_favorite = serializers.BooleanField()
    is_archived = serializers.BooleanField()
    archived_at = UnixTimestampField()
    created_at = UnixTimestampField()
    updated_at = UnixTimestampField()

    def get_instruction(self, workspace: Workspace) -> str | None:
        return workspace.instruction or None


# Input. Nested items and metadata are checked by the services (conversations.validation)
# so that every caller gets the same rules; unknown top-level fields are refused.


class StrictSerializer(serializers.Serializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            for key in self.initial_data:
                if key not in self.fields:
                    raise serializers.ValidationError(
                        {key: f"Unknown parameter: '{key}'."}
                    )
        return attrs


class MetadataField(serializers.JSONField):
    """Metadata pairs (checked by the service)."""


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanField(serializers.Field):
    """A JSON boolean, and nothing DRF's BooleanField would also take ("yes", 1)."""

    default_error_messages = {"invalid": "Must be a boolean (true or false)."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data

    def to_representation(self, value: Any) -> bool:
        return bool(value)


class ConversationCreateSerializer(StrictSerializer):
    title = serializers.CharField(
        max_length=TITLE_MAX_CHARS, required=False, allow_blank=True, allow_null=True
    )
    metadata = MetadataField(required=False, allow_null=True)
    items = serializers.JSONField(required=False, allow_null=True)
    workspace_id = serializers.CharField(
        max_length=ID_MAX_LENGTH, required=False, allow_null=True
    )
    # Jan's newer name of workspace_id (a chat project of /v1/projects).
    project_id = serializers.CharField(
        max_length=ID_MAX_LENGTH, required=False, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        project_id = attrs.pop("project_id", None)
        if project_id is not None:
            workspace_id = attrs.get("workspace_id")
            if workspace_id is not None and workspace_id != project_id:
                raise serializers.ValidationError(
                    {"project_id": "Give `project_id` or `workspace_id`, not both."}
                )
            attrs["workspace_id"] = project_id
        return attrs


class ConversationUpdateSerializer(StrictSerializer):
    """OpenAI's update (metadata), plus Jan's `title`: at least one of them."""

    title = serializers.CharField(
        max_length=TITLE_MAX_CHARS, required=False, allow_blank=True, allow_null=True
    )
    metadata = MetadataField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError(
                {"metadata": "Give `metadata`, `title` or both."}
            )
        return attrs


class ConversationPatchSerializer(StrictSerializer):
    title = serializers.CharField(
        max_length=TITLE_MAX_CHARS, required=False, allow_blank=True, allow_null=True
    )
    metadata = MetadataField(required=False, allow_null=True)


class ConversationWorkspaceSerializer(StrictSerializer):
    workspace_id = serializers.CharField(max_length=ID_MAX_LENGTH, allow_null=True)


class ItemCreateSerializer(StrictSerializer):
    items = serializers.JSONField()


class WorkspaceCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=WORKSPACE_NAME_MAX_CHARS)
    instruction = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )


class ChatProjectCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=WORKSPACE_NAME_MAX_CHARS)
    instruction = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    is_favorite = StrictBooleanField(required=False)
    is_archived = StrictBooleanField(required=False)


class ChatProjectUpdateSerializer(StrictSerializer):
    """The fields to change: at least one."""

    name = serializers.CharField(max_length=WORKSPACE_NAME_MAX_CHARS, required=False)
    instruction = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, trim_whitespace=False
    )
    is_favorite = StrictBooleanField(required=False)
    is_archived = StrictBooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError(
                {
                    "name": "Give at least one of `name`, `instruction`, "
                    "`is_favorite` and `is_archived`."
                }
            )
        return attrs


class WorkspaceRenameSerializer(StrictSerializer):
    name = serializers.CharField(max_length=WORKSPACE_NAME_MAX_CHARS)


class WorkspaceInstructionSerializer(StrictSerializer):
    instruction = serializers.CharField(
        allow_blank=True, allow_null=True, trim_whitespace=False
    )


# Query parameters.


class NewestFirstListQuerySerializer(ListQuerySerializer):
    order = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


class ConversationListQuerySerializer(NewestFirstListQuerySerializer):
    workspace_id = serializers.CharField(max_length=ID_MAX_LENGTH, required=False)
    # Jan's newer name of workspace_id; "none" keeps those outside any.
    project_id = serializers.CharField(max_length=ID_MAX_LENGTH, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        project_id = attrs.pop("project_id", None)
        if project_id is not None:
            workspace_id = attrs.get("workspace_id")
            if workspace_id is not None and workspace_id != project_id:
                raise serializers.ValidationError(
                    {"project_id": "Give `project_id` or `workspace_id`, not both."}
                )
            attrs["workspace_id"] = project_id
        return attrs


class ChatProjectListQuerySerializer(NewestFirstListQuerySerializer):
    include_archived = serializers.BooleanField(required=False, default=False)


class ItemListQuerySerializer(NewestFirstListQuerySerializer):
    pass
