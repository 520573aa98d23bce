"""Organizations' MCP servers: /v1/organization/mcp_servers (owners write)."""

from asgiref.sync import async_to_sync
from rest_framework.request import Request
from rest_framework.response import Response

from janserver.api.pagination import list_query, paginated_response
from janserver.api.schema import deleted, list_schema, operation
from janserver.api.shapes import deleted_body
from orgs.permissions import OrganizationView
from tools import registry
from tools.api.serializers import (
    McpServerCheckedSerializer,
    McpServerCreateSerializer,
    McpServerSerializer,
    McpServerUpdateSerializer,
    checked_data,
)
from tools.selectors import mcp_server_get, mcp_server_list, mcp_server_target
from tools.services import (
    mcp_server_delete,
    mcp_server_register,
    mcp_server_update,
)


class McpServerListView(OrganizationView):
    @list_schema("list-mcp-servers", McpServerSerializer, "McpServer")
    def get(self, request: Request) -> Response:
        servers = mcp_server_list(organization=self.access.organization)
        return paginated_response(servers, list_query(request), McpServerSerializer)

    @operation(
        "register-mcp-server",
        request=McpServerCreateSerializer,
        responses=McpServerSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = McpServerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        server = mcp_server_register(
            organization=self.access.organization, **serializer.validated_data
        )
        return Response(McpServerSerializer(server).data)


class McpServerDetailView(OrganizationView):
    @operation("retrieve-mcp-server", responses=McpServerSerializer)
    def get(self, request: Request, server_id: str) -> Response:
        server = mcp_server_get(
            organization=self.access.organization, public_id=server_id
        )
        return Response(McpServerSerializer(server).data)

    @operation(
        "modify-mcp-server",
        request=McpServerUpdateSerializer,
        responses=McpServerSerializer,
    )
    def post(self, request: Request, server_id: str) -> Response:
        server = mcp_server_get(
            organization=self.access.organization, public_id=server_id
        )
        serializer = McpServerUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        server = mcp_server_update(server=server, **serializer.validated_data)
        return Response(McpServerSerializer(server).data)

    @operation("delete-mcp-server", responses=deleted("McpServer"))
    def delete(self, request: Request, server_id: str) -> Response:
        server = mcp_server_get(
            organization=self.access.organization, public_id=server_id
        )
        mcp_server_delete(server=server)
        return Response(deleted_body("organization.mcp_server", server_id))


class McpServerCheckView(OrganizationView):
    owner_writes = False  # a check changes only the recorded status: readers may

    @operation("check-mcp-server", request=None, responses=McpServerCheckedSerializer)
    def post(self, request: Request, server_id: str) -> Response:
        server = mcp_server_get(
            organization=self.access.organization, public_id=server_id
        )
        checked = async_to_sync(registry.server_check)(mcp_server_target(server))
        server.refresh_from_db()
        tools = [
            {"name": tool.name, "description": tool.description}
            for tool in checked.tools
        ]
        return Response(checked_data(server, tools))
