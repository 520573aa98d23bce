"""Routes of the model provider API.

`organization_urlpatterns` go under /v1/organization/ and `urlpatterns` under /v1/,
before inference.api.urls (whose `models/<path:model_id>` would take models/providers).
"""

from django.urls import path

from inference.api import providers

PROVIDERS = "models/providers"
PROVIDER = "models/providers/<str:provider_id>"
PROJECT = "projects/<str:project_id>"

organization_urlpatterns = [
    path(PROVIDERS, providers.ProviderListView.as_view(), name="list"),
    path(PROVIDER, providers.ProviderDetailView.as_view(), name="detail"),
    path(f"{PROVIDER}/sync", providers.ProviderSyncView.as_view(), name="sync"),
    path(
        f"{PROJECT}/{PROVIDERS}",
        providers.ProjectProviderListView.as_view(),
        name="project_list",
    ),
    path(
        f"{PROJECT}/{PROVIDER}",
        providers.ProjectProviderDetailView.as_view(),
        name="project_detail",
    ),
    path(
        f"{PROJECT}/{PROVIDER}/sync",
        providers.ProjectProviderSyncView.as_view(),
        name="project_sync",
    ),
]

urlpatterns = [
    path(PROVIDERS, providers.ModelProviderListView.as_view(), name="list"),
]
