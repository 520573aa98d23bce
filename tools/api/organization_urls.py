"""Routes of an organization's MCP servers, mounted at /v1/organization/."""

from django.urls import path

from tools.api import servers

app_name = "organization_mcp_servers"

SERVER = "mcp_servers/<str:server_id>"

urlpatterns = [
    path("mcp_servers", servers.McpServerListView.as_view(), name="list"),
    path(SERVER, servers.McpServerDetailView.as_view(), name="detail"),
    path(f"{SERVER}/check", servers.McpServerCheckView.as_view(), name="check"),
]
