"""Routes of the rate limits, mounted at /v1/organization/."""

from django.urls import path

from limits.api import views

app_name = "organization_rate_limits"

PROJECT = "projects/<str:project_id>"

urlpatterns = [
    path(
        f"{PROJECT}/rate_limits",
        views.ProjectRateLimitListView.as_view(),
        name="list",
    ),
    path(
        f"{PROJECT}/rate_limits/<path:rate_limit_id>",
        views.ProjectRateLimitDetailView.as_view(),
        name="detail",
    ),
]
