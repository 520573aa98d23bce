"""Routes of the tools app: the MCP endpoint (under /v1/) and the organization's MCP
servers (`organization_urlpatterns`, under /v1/organization/)."""

from django.urls import path

from tools.api import servers, views

SERVER = "mcp_servers/<str:server_id>"

urlpatterns = [
    path("mcp", views.mcp, name="mcp"),
    path("conv/mcp", views.mcp, name="conv-mcp"),
]

organization_urlpatterns = [
    path("mcp_servers", servers.McpServerListView.as_view(), name="list"),
    path(SERVER, servers.McpServerDetailView.as_view(), name="detail"),
    path(f"{SERVER}/check", servers.McpServerCheckView.as_view(), name="check"),
]
