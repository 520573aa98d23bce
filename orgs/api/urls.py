"""Routes of the organization admin API, mounted at /v1/organization/."""

from django.urls import include, path

from orgs.api import views_invites, views_keys, views_projects, views_users

app_name = "organization"

admin_api_key_patterns = [
    path("admin_api_keys", views_keys.AdminApiKeyListView.as_view(), name="list"),
    path(
        "admin_api_keys/<str:key_id>",
        views_keys.AdminApiKeyDetailView.as_view(),
        name="detail",
    ),
]

PROJECT = "projects/<str:project_id>"

project_patterns = [
    path("projects", views_projects.ProjectListView.as_view(), name="list"),
    path(PROJECT, views_projects.ProjectDetailView.as_view(), name="detail"),
    path(
        f"{PROJECT}/archive",
        views_projects.ProjectArchiveView.as_view(),
        name="archive",
    ),
]

project_api_key_patterns = [
    path(
        f"{PROJECT}/api_keys", views_keys.ProjectApiKeyListView.as_view(), name="list"
    ),
    path(
        f"{PROJECT}/api_keys/<str:key_id>",
        views_keys.ProjectApiKeyDetailView.as_view(),
        name="detail",
    ),
]

project_user_patterns = [
    path(f"{PROJECT}/users", views_projects.ProjectUserListView.as_view(), name="list"),
    path(
        f"{PROJECT}/users/<str:user_id>",
        views_projects.ProjectUserDetailView.as_view(),
        name="detail",
    ),
]

user_patterns = [
    path("users", views_users.OrganizationUserListView.as_view(), name="list"),
    path(
        "users/<str:user_id>",
        views_users.OrganizationUserDetailView.as_view(),
        name="detail",
    ),
]

invite_patterns = [
    path("invites", views_invites.InviteListView.as_view(), name="list"),
    path(
        "invites/verification",
        views_invites.InviteVerificationView.as_view(),
        name="verification",
    ),
    path(
        "invites/<str:invite_id>",
        views_invites.InviteDetailView.as_view(),
        name="detail",
    ),
]

urlpatterns = [
    path("", include((admin_api_key_patterns, "admin_api_keys"))),
    path("", include((project_patterns, "projects"))),
    path("", include((project_api_key_patterns, "project_api_keys"))),
    path("", include((project_user_patterns, "project_users"))),
    path("", include((user_patterns, "users"))),
    path("", include((invite_patterns, "invites"))),
]
