"""Conversations and their items (OpenAI), Jan's PATCH routes and workspaces."""

from typing import Any

from drf_spectacular.types import OpenApiTypes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from conversations.api.serializers import (
    ConversationCreateSerializer,
    ConversationListQuerySerializer,
    ConversationPatchSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    ConversationWorkspaceSerializer,
    ItemCreateSerializer,
    ItemListQuerySerializer,
    ItemSerializer,
    WorkspaceCreateSerializer,
    WorkspaceInstructionSerializer,
    WorkspaceRenameSerializer,
    WorkspaceSerializer,
)
from conversations.models import Item, Workspace
from conversations.selectors import (
    PROJECT_HEADER,
    Caller,
    caller_get,
    conversation_get,
    conversation_list,
    item_get,
    item_page,
    workspace_get,
    workspace_list,
)
from conversations.services import (
    conversation_create,
    conversation_delete,
    conversation_items_append,
    conversation_update,
    conversation_workspace_set,
    item_delete,
    workspace_create,
    workspace_delete,
    workspace_instruction_set,
    workspace_rename,
)
from janserver.api.pagination import list_body, list_query, paginated_response
from janserver.api.schema import deleted, list_of, list_schema, operation
from janserver.api.shapes import deleted_body
from janserver.auth import ProjectAccess, principal_of


def valid(serializer_class: type[Serializer], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _items_data(items: list[Item]) -> list[dict[str, Any]]:
    return [ItemSerializer(item).data for item in items]


class ConversationsView(APIView):
    """A view acting for `self.caller`: login users and project keys, never admin keys."""

    permission_classes = [ProjectAccess]
    caller: Caller

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not hasattr(self, (request.method or "").lower()):
            return  # dispatch answers 405
        self.caller = caller_get(
            principal=principal_of(request),
            project_public_id=request.headers.get(PROJECT_HEADER),
        )

    def workspace_or_none(
        self,
        public_id: str | None,
        project_id: int | None = None,
        param: str = "workspace_id",
    ) -> Workspace | None:
        if public_id is None:
            return None
        return workspace_get(
            caller=self.caller, public_id=public_id, project_id=project_id, param=param
        )


class ConversationListView(ConversationsView):
    @list_schema(
        "listConversations",
        ConversationSerializer,
        "Conversation",
        ConversationListQuerySerializer,
    )
    def get(self, request: Request) -> Response:
        query = list_query(request, ConversationListQuerySerializer)
        conversations = conversation_list(
            caller=self.caller, workspace_public_id=query.get("workspace_id")
        )
        return paginated_response(conversations, query, ConversationSerializer)

    @operation(
        "createConversation",
        request=ConversationCreateSerializer,
        responses=ConversationSerializer,
    )
    def post(self, request: Request) -> Response:
        data = valid(ConversationCreateSerializer, request)  # a JSON object, or 400
        param = "project_id" if "project_id" in request.data else "workspace_id"
        workspace = self.workspace_or_none(data.pop("workspace_id", None), param=param)
        conversation = conversation_create(
            caller=self.caller, workspace=workspace, **data
        )
        return Response(ConversationSerializer(conversation).data)


class ConversationDetailView(ConversationsView):
    @operation("getConversation", responses=ConversationSerializer)
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        return Response(ConversationSerializer(conversation).data)

    @operation(
        "updateConversation",
        request=ConversationUpdateSerializer,
        responses=ConversationSerializer,
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        return self._update(request, conversation_id, ConversationUpdateSerializer)

    @operation(
        "patchConversation",
        request=ConversationPatchSerializer,
        responses=ConversationSerializer,
    )
    def patch(self, request: Request, conversation_id: str) -> Response:
        return self._update(request, conversation_id, ConversationPatchSerializer)

    @operation("deleteConversation", responses=deleted("Conversation"))
    def delete(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        conversation_delete(conversation=conversation)
        return Response(deleted_body("conversation", conversation.public_id))

    def _update(
        self, request: Request, conversation_id: str, serializer: type[Serializer]
    ) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        data = valid(serializer, request)
        conversation = conversation_update(conversation=conversation, **data)
        return Response(ConversationSerializer(conversation).data)


class ConversationWorkspaceView(ConversationsView):
    @operation(
        "setConversationWorkspace",
        request=ConversationWorkspaceSerializer,
        responses=ConversationSerializer,
    )
    def patch(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        data = valid(ConversationWorkspaceSerializer, request)
        workspace = self.workspace_or_none(
            data["workspace_id"], project_id=conversation.project_id
        )
        conversation = conversation_workspace_set(
            conversation=conversation, workspace=workspace
        )
        return Response(ConversationSerializer(conversation).data)


class ItemListView(ConversationsView):
    @list_schema(
        "listConversationItems",
        ItemSerializer,
        "ConversationItem",
        ItemListQuerySerializer,
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        query = list_query(request, ItemListQuerySerializer)
        items, has_more = item_page(
            conversation=conversation,
            limit=query["limit"],
            order=query["order"],
            after=query.get("after") or query.get("last"),
        )
        return Response(list_body(_items_data(items), has_more))

    @operation(
        "createConversationItems",
        request=ItemCreateSerializer,
        responses=list_of(ItemSerializer, "ConversationItemCreated"),
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        data = valid(ItemCreateSerializer, request)
        items = conversation_items_append(conversation=conversation, **data)
        return Response(list_body(_items_data(items), False))


class ItemDetailView(ConversationsView):
    @operation("getConversationItem", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, conversation_id: str, item_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        item = item_get(conversation=conversation, public_id=item_id)
        return Response(ItemSerializer(item).data)

    @operation("deleteConversationItem", responses=ConversationSerializer)
    def delete(self, request: Request, conversation_id: str, item_id: str) -> Response:
        conversation = conversation_get(caller=self.caller, public_id=conversation_id)
        item = item_get(conversation=conversation, public_id=item_id)
        return Response(ConversationSerializer(item_delete(item=item)).data)


class WorkspaceListView(ConversationsView):
    @list_schema("listWorkspaces", WorkspaceSerializer, "Workspace")
    def get(self, request: Request) -> Response:
        workspaces = workspace_list(caller=self.caller)
        return paginated_response(workspaces, list_query(request), WorkspaceSerializer)

    @operation(
        "createWorkspace",
        request=WorkspaceCreateSerializer,
        responses={201: WorkspaceSerializer},
    )
    def post(self, request: Request) -> Response:
        data = valid(WorkspaceCreateSerializer, request)
        workspace = workspace_create(caller=self.caller, **data)
        return Response(WorkspaceSerializer(workspace).data, status=201)


class WorkspaceDetailView(ConversationsView):
    @operation("getWorkspace", responses=WorkspaceSerializer)
    def get(self, request: Request, workspace_id: str) -> Response:
        workspace = workspace_get(caller=self.caller, public_id=workspace_id)
        return Response(WorkspaceSerializer(workspace).data)

    @operation(
        "renameWorkspace",
        request=WorkspaceRenameSerializer,
        responses=WorkspaceSerializer,
    )
    def patch(self, request: Request, workspace_id: str) -> Response:
        workspace = workspace_get(caller=self.caller, public_id=workspace_id)
        data = valid(WorkspaceRenameSerializer, request)
        workspace = workspace_rename(workspace=workspace, **data)
        return Response(WorkspaceSerializer(workspace).data)

    @operation("deleteWorkspace", responses=deleted("Workspace"))
    def delete(self, request: Request, workspace_id: str) -> Response:
        workspace = workspace_get(caller=self.caller, public_id=workspace_id)
        workspace_delete(workspace=workspace)
        return Response(deleted_body("workspace", workspace_id))


class WorkspaceInstructionView(ConversationsView):
    @operation(
        "setWorkspaceInstruction",
        request=WorkspaceInstructionSerializer,
        responses=WorkspaceSerializer,
    )
    def patch(self, request: Request, workspace_id: str) -> Response:
        workspace = workspace_get(caller=self.caller, public_id=workspace_id)
        data = valid(WorkspaceInstructionSerializer, request)
        workspace = workspace_instruction_set(workspace=workspace, **data)
        return Response(WorkspaceSerializer(workspace).data)
