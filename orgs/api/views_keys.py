"""Admin API keys and project API keys."""

from rest_framework.request import Request
from rest_framework.response import Response

from janserver.api.pagination import list_query, paginated_response
from janserver.api.schema import deleted, jan_result, list_schema, operation
from janserver.api.shapes import deleted_body
from orgs.api.base import OrganizationView
from orgs.api.serializers import (
    AdminApiKeyCreatedSerializer,
    AdminApiKeyCreateSerializer,
    AdminApiKeySerializer,
    ProjectApiKeyCreatedSerializer,
    ProjectApiKeyCreateSerializer,
    ProjectApiKeySerializer,
)
from orgs.models import ApiKeyKind
from orgs.selectors import (
    admin_api_key_get,
    admin_api_key_list,
    project_api_key_get,
    project_api_key_list,
    project_get_for_keys,
)
from orgs.services import admin_api_key_create, api_key_create, api_key_revoke

JAN_OK = "000000"


class AdminApiKeyListView(OrganizationView):
    @list_schema("admin-api-keys-list", AdminApiKeySerializer, "AdminApiKey")
    def get(self, request: Request) -> Response:
        keys = admin_api_key_list(access=self.access)
        return paginated_response(keys, list_query(request), AdminApiKeySerializer)

    @operation(
        "admin-api-keys-create",
        request=AdminApiKeyCreateSerializer,
        responses=AdminApiKeyCreatedSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = AdminApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, secret = admin_api_key_create(
            organization=self.access.organization,
            owner=self.access.user,
            **serializer.validated_data,
        )
        return Response({**AdminApiKeySerializer(api_key).data, "value": secret})


class AdminApiKeyDetailView(OrganizationView):
    @operation("admin-api-keys-get", responses=AdminApiKeySerializer)
    def get(self, request: Request, key_id: str) -> Response:
        api_key = admin_api_key_get(access=self.access, public_id=key_id)
        return Response(AdminApiKeySerializer(api_key).data)

    @operation("admin-api-keys-delete", responses=deleted("AdminApiKey"))
    def delete(self, request: Request, key_id: str) -> Response:
        api_key = admin_api_key_get(access=self.access, public_id=key_id)
        api_key_revoke(api_key=api_key)
        return Response(deleted_body("organization.admin_api_key", api_key.public_id))


class ProjectApiKeyListView(OrganizationView):
    # Project members may create their own keys: the selectors check reads and writes.
    owner_writes = False
    members_allowed = True

    @list_schema("list-project-api-keys", ProjectApiKeySerializer, "ProjectApiKey")
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_keys(access=self.access, public_id=project_id)
        keys = project_api_key_list(access=self.access, project=project)
        return paginated_response(keys, list_query(request), ProjectApiKeySerializer)

    @operation(
        "create-project-api-key",
        request=ProjectApiKeyCreateSerializer,
        responses=jan_result(ProjectApiKeyCreatedSerializer(), "ProjectApiKey"),
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_keys(access=self.access, public_id=project_id)
        serializer = ProjectApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, secret = api_key_create(
            kind=ApiKeyKind.PROJECT,
            organization=self.access.organization,
            project=project,
            owner=self.access.user,
            **serializer.validated_data,
        )
        result = {**ProjectApiKeySerializer(api_key).data, "key": secret}
        return Response({"status": JAN_OK, "result": result})


class ProjectApiKeyDetailView(OrganizationView):
    owner_writes = False
    members_allowed = True

    @operation("retrieve-project-api-key", responses=ProjectApiKeySerializer)
    def get(self, request: Request, project_id: str, key_id: str) -> Response:
        project = project_get_for_keys(access=self.access, public_id=project_id)
        api_key = project_api_key_get(
            access=self.access, project=project, public_id=key_id
        )
        return Response(ProjectApiKeySerializer(api_key).data)

    @operation("delete-project-api-key", responses=deleted("ProjectApiKey"))
    def delete(self, request: Request, project_id: str, key_id: str) -> Response:
        project = project_get_for_keys(access=self.access, public_id=project_id)
        api_key = project_api_key_get(
            access=self.access, project=project, public_id=key_id
        )
        api_key_revoke(api_key=api_key)
        body = deleted_body("organization.project.api_key", api_key.public_id)
        return Response(body)
