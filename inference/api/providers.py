"""Model providers: an organization's and its projects' upstreams, and the usable ones."""

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.api.provider_serializers import (
    ModelProviderSerializer,
    ProviderCreateSerializer,
    ProviderSerializer,
    ProviderSyncedSerializer,
    ProviderUpdateSerializer,
)
from inference.models import Provider
from inference.selectors import provider_get, provider_list, provider_list_usable
from inference.services import (
    provider_delete,
    provider_models_sync,
    provider_reconfigure,
    provider_register,
)
from janserver.api.pagination import (
    ListQuerySerializer,
    list_body,
    list_query,
    paginated_response,
)
from janserver.api.schema import deleted, list_of, operation
from janserver.api.shapes import deleted_body
from janserver.auth import ProjectAccess, principal_of
from orgs.permissions import OrganizationAccessRequired
from orgs.selectors import OrganizationAccess, project_get_for_admin


class _ProviderView(APIView):
    """Providers of the caller's organization, or of one of its projects.

    Organization owners write; owners and readers read. A provider of another scope
    answers 404 like an unknown one.
    """

    permission_classes = [OrganizationAccessRequired]
    access: OrganizationAccess

    def scope(self, project_id: str | None) -> dict[str, Any]:
        project = (
            None
            if project_id is None
            else project_get_for_admin(access=self.access, public_id=project_id)
        )
        return {"organization": self.access.organization, "project": project}

    def provider(self, project_id: str | None, provider_id: str) -> Provider:
        return provider_get(public_id=provider_id, **self.scope(project_id))


def synced(provider: Provider, sync_error: str | None) -> dict[str, Any]:
    return {**ProviderSerializer(provider).data, "sync_error": sync_error}


class _ProviderListView(_ProviderView):
    def get(self, request: Request, project_id: str | None = None) -> Response:
        providers = provider_list(**self.scope(project_id))
        return paginated_response(providers, list_query(request), ProviderSerializer)

    def post(self, request: Request, project_id: str | None = None) -> Response:
        serializer = ProviderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider, sync_error = provider_register(
            **self.scope(project_id), **serializer.validated_data
        )
        return Response(synced(provider, sync_error))


class _ProviderDetailView(_ProviderView):
    def get(
        self, request: Request, provider_id: str, project_id: str | None = None
    ) -> Response:
        provider = self.provider(project_id, provider_id)
        return Response(ProviderSerializer(provider).data)

    def post(
        self, request: Request, provider_id: str, project_id: str | None = None
    ) -> Response:
        provider = self.provider(project_id, provider_id)
        serializer = ProviderUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        provider, sync_error = provider_reconfigure(
            provider=provider, **serializer.validated_data
        )
        return Response(synced(provider, sync_error))

    def patch(
        self, request: Request, provider_id: str, project_id: str | None = None
    ) -> Response:
        """The same partial update as POST (Jan's clients send PATCH)."""
        return self.post(request, provider_id, project_id)

    def delete(
        self, request: Request, provider_id: str, project_id: str | None = None
    ) -> Response:
        provider_delete(provider=self.provider(project_id, provider_id))
        return Response(deleted_body("model.provider", provider_id))


class _ProviderSyncView(_ProviderView):
    def post(
        self, request: Request, provider_id: str, project_id: str | None = None
    ) -> Response:
        provider = self.provider(project_id, provider_id)
        provider_models_sync(provider=provider)
        return Response(ProviderSerializer(provider).data)


# One schema component, shared by the organization and project routes (deleted() is
# cached likewise).
PROVIDER_LIST = list_of(ProviderSerializer, "Provider")


def _list_schemas(prefix: str) -> dict[str, Any]:
    return {
        "get": extend_schema(
            operation_id=f"list-{prefix}providers",
            parameters=[ListQuerySerializer],
            responses=PROVIDER_LIST,
        ),
        "post": operation(
            f"register-{prefix}provider",
            request=ProviderCreateSerializer,
            responses=ProviderSyncedSerializer,
        ),
    }


def _detail_schemas(prefix: str) -> dict[str, Any]:
    return {
        "get": operation(f"retrieve-{prefix}provider", responses=ProviderSerializer),
        "post": operation(
            f"modify-{prefix}provider",
            request=ProviderUpdateSerializer,
            responses=ProviderSyncedSerializer,
        ),
        "patch": operation(
            f"patch-{prefix}provider",
            request=ProviderUpdateSerializer,
            responses=ProviderSyncedSerializer,
        ),
        "delete": operation(f"delete-{prefix}provider", responses=deleted("Provider")),
    }


def _sync_schemas(prefix: str) -> dict[str, Any]:
    return {
        "post": operation(
            f"sync-{prefix}provider-models", request=None, responses=ProviderSerializer
        )
    }


@extend_schema_view(**_list_schemas(""))
class ProviderListView(_ProviderListView):
    pass


@extend_schema_view(**_detail_schemas(""))
class ProviderDetailView(_ProviderDetailView):
    pass


@extend_schema_view(**_sync_schemas(""))
class ProviderSyncView(_ProviderSyncView):
    pass


@extend_schema_view(**_list_schemas("project-"))
class ProjectProviderListView(_ProviderListView):
    pass


@extend_schema_view(**_detail_schemas("project-"))
class ProjectProviderDetailView(_ProviderDetailView):
    pass


@extend_schema_view(**_sync_schemas("project-"))
class ProjectProviderSyncView(_ProviderSyncView):
    pass


class ModelProviderListView(APIView):
    """The providers whose models the caller may use (project keys and users)."""

    permission_classes = [ProjectAccess]

    @operation(
        "list-model-providers",
        responses=list_of(ModelProviderSerializer, "ModelProvider"),
    )
    def get(self, request: Request) -> Response:
        providers = provider_list_usable(principal=principal_of(request))
        data = ModelProviderSerializer(providers, many=True).data
        return Response(list_body(list(data), has_more=False))
