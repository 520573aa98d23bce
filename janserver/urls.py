"""Root URLs: server routes, API schema, admin and each app's API."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from inference.api import metrics_view, provider_urls
from janserver import views

urlpatterns = [
    path("healthcheck", views.healthcheck, name="healthcheck"),
    # Jan's and Kubernetes' names for the same two probes.
    path("healthz", views.healthcheck, name="healthz"),
    path("v1/healthz", views.healthcheck, name="v1-healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("v1/readyz", views.readyz, name="v1-readyz"),
    path("v1/version", views.version, name="version"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/swagger/",
        SpectacularSwaggerView.as_view(url_name="schema"),
        name="swagger-ui",
    ),
    # Where Jan Server (swaggo) serves its Swagger UI.
    path(
        "api/swagger/index.html",
        SpectacularSwaggerView.as_view(url_name="schema"),
        name="swagger-ui-index",
    ),
    path("admin/", admin.site.urls),
    path(
        "v1/organization/",
        include((provider_urls.organization_urlpatterns, "organization_providers")),
    ),
    path("v1/organization/", include("tools.api.organization_urls")),
    path("v1/organization/", include("orgs.api.urls")),
    path("v1/organization/", include("limits.api.urls")),
    path("v1/organization/", include("usage.api.urls")),
    path("v1/auth/", include("accounts.api.urls")),
    # Before inference.api.urls, whose models/<path:model_id> would catch it.
    path("v1/", include((provider_urls.urlpatterns, "model_providers"))),
    path("v1/", include("tools.api.urls")),
    path("v1/", include("conversations.api.urls")),
    path("v1/", include("conversations.api.response_urls")),
    path("v1/", include("conversations.api.completion_urls")),
    path("v1/", include("conversations.api.chat_urls")),
    path("v1/", include("inference.api.urls")),
    path("metrics", metrics_view.scrape_metrics, name="metrics"),
]

handler400 = "janserver.http.error_views.bad_request"
handler403 = "janserver.http.error_views.permission_denied"
handler404 = "janserver.http.error_views.page_not_found"
handler500 = "janserver.http.error_views.server_error"
