"""Jan's chat projects (/v1/projects): the workspaces of /v1/conv/workspaces under Jan's
newer name and shape. Not the organization projects of /v1/organization/projects."""

from rest_framework.request import Request
from rest_framework.response import Response

from conversations.api.serializers import (
    ChatProjectCreateSerializer,
    ChatProjectListQuerySerializer,
    ChatProjectSerializer,
    ChatProjectUpdateSerializer,
)
from conversations.api.views import ConversationsView, valid
from conversations.models import Workspace
from conversations.selectors import workspace_get, workspace_list
from conversations.services import workspace_create, workspace_delete, workspace_update
from janserver.api.pagination import list_query, paginated_response
from janserver.api.schema import deleted, list_schema, operation
from janserver.api.shapes import deleted_body


class ChatProjectsView(ConversationsView):
    def chat_project(self, project_id: str) -> Workspace:
        return workspace_get(
            caller=self.caller, public_id=project_id, param="project_id"
        )


class ChatProjectListView(ChatProjectsView):
    @list_schema(
        "listChatProjects",
        ChatProjectSerializer,
        "ChatProject",
        ChatProjectListQuerySerializer,
    )
    def get(self, request: Request) -> Response:
        query = list_query(request, ChatProjectListQuerySerializer)
        projects = workspace_list(
            caller=self.caller, include_archived=query["include_archived"]
        )
        return paginated_response(projects, query, ChatProjectSerializer)

    @operation(
        "createChatProject",
        request=ChatProjectCreateSerializer,
        responses={201: ChatProjectSerializer},
    )
    def post(self, request: Request) -> Response:
        data = valid(ChatProjectCreateSerializer, request)
        project = workspace_create(caller=self.caller, **data)
        return Response(ChatProjectSerializer(project).data, status=201)


class ChatProjectDetailView(ChatProjectsView):
    @operation("getChatProject", responses=ChatProjectSerializer)
    def get(self, request: Request, project_id: str) -> Response:
        return Response(ChatProjectSerializer(self.chat_project(project_id)).data)

    @operation(
        "updateChatProject",
        request=ChatProjectUpdateSerializer,
        responses=ChatProjectSerializer,
    )
    def patch(self, request: Request, project_id: str) -> Response:
        project = self.chat_project(project_id)
        data = valid(ChatProjectUpdateSerializer, request)
        project = workspace_update(workspace=project, **data)
        return Response(ChatProjectSerializer(project).data)

    @operation("deleteChatProject", responses=deleted("ChatProject"))
    def delete(self, request: Request, project_id: str) -> Response:
        project = self.chat_project(project_id)
        workspace_delete(workspace=project)
        return Response(deleted_body("project", project_id))
