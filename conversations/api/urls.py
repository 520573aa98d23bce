"""Routes of the conversations API, mounted at /v1/."""

from django.urls import include, path

from conversations.api import chat_projects, views

app_name = "conversations"

CONVERSATION = "conversations/<str:conversation_id>"
WORKSPACE = "conv/workspaces/<str:workspace_id>"

conversation_patterns = [
    path("conversations", views.ConversationListView.as_view(), name="list"),
    path(CONVERSATION, views.ConversationDetailView.as_view(), name="detail"),
    path(
        f"{CONVERSATION}/workspace",
        views.ConversationWorkspaceView.as_view(),
        name="workspace",
    ),
]

item_patterns = [
    path(f"{CONVERSATION}/items", views.ItemListView.as_view(), name="list"),
    path(
        f"{CONVERSATION}/items/<str:item_id>",
        views.ItemDetailView.as_view(),
        name="detail",
    ),
]

workspace_patterns = [
    path("conv/workspaces", views.WorkspaceListView.as_view(), name="list"),
    path(WORKSPACE, views.WorkspaceDetailView.as_view(), name="detail"),
    path(
        f"{WORKSPACE}/instruction",
        views.WorkspaceInstructionView.as_view(),
        name="instruction",
    ),
]

# Jan's newer name of workspaces: chat projects, not /v1/organization/projects.
chat_project_patterns = [
    path("projects", chat_projects.ChatProjectListView.as_view(), name="list"),
    path(
        "projects/<str:project_id>",
        chat_projects.ChatProjectDetailView.as_view(),
        name="detail",
    ),
]

urlpatterns = [
    path("", include((conversation_patterns, "conversations"))),
    path("", include((item_patterns, "items"))),
    path("", include((workspace_patterns, "workspaces"))),
    path("", include((chat_project_patterns, "chat_projects"))),
]
