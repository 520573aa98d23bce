"""Routes of the MCP endpoint, mounted at /v1/."""

from django.urls import path

from tools.api import views

app_name = "tools"

urlpatterns = [
    path("mcp", views.mcp, name="mcp"),
    path("conv/mcp", views.mcp, name="conv-mcp"),
]
