"""Projects and their users."""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from janserver.api.pagination import ListQuerySerializer, list_query, paginated_response
from janserver.api.schema import deleted, list_schema, operation
from janserver.api.shapes import deleted_body
from orgs.api.base import OrganizationView
from orgs.api.serializers import (
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    ProjectUserCreateSerializer,
    ProjectUserSerializer,
    ProjectUserUpdateSerializer,
)
from orgs.models import ProjectMember
from orgs.selectors import (
    organization_member_get,
    project_get_for_admin,
    project_list,
    project_member_get,
    project_member_list,
)
from orgs.services import (
    project_archive,
    project_create,
    project_member_add,
    project_member_remove,
    project_member_role_change,
    project_update,
)

MEMBER_CURSOR = {"id_field": "user__public_id"}


class ProjectListQuerySerializer(ListQuerySerializer):
    include_archived = serializers.BooleanField(default=False)


class ProjectListView(OrganizationView):
    @list_schema(
        "list-projects", ProjectSerializer, "Project", ProjectListQuerySerializer
    )
    def get(self, request: Request) -> Response:
        query = list_query(request, ProjectListQuerySerializer)
        projects = project_list(
            access=self.access, include_archived=query["include_archived"]
        )
        return paginated_response(projects, query, ProjectSerializer)

    @operation(
        "create-project", request=ProjectCreateSerializer, responses=ProjectSerializer
    )
    def post(self, request: Request) -> Response:
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_create(
            organization=self.access.organization,
            name=serializer.validated_data["name"],
            owner=self.access.user,
        )
        return Response(ProjectSerializer(project).data)


class ProjectDetailView(OrganizationView):
    @operation("retrieve-project", responses=ProjectSerializer)
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        return Response(ProjectSerializer(project).data)

    @operation(
        "modify-project", request=ProjectUpdateSerializer, responses=ProjectSerializer
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        serializer = ProjectUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        project = project_update(project=project, **serializer.validated_data)
        return Response(ProjectSerializer(project).data)


class ProjectArchiveView(OrganizationView):
    @operation("archive-project", responses=ProjectSerializer)
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        return Response(ProjectSerializer(project_archive(project=project)).data)


class ProjectUserListView(OrganizationView):
    @list_schema("list-project-users", ProjectUserSerializer, "ProjectUser")
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        members = project_member_list(access=self.access, project=project)
        query = list_query(request)
        return paginated_response(
            members, query, ProjectUserSerializer, **MEMBER_CURSOR
        )

    @operation(
        "create-project-user",
        request=ProjectUserCreateSerializer,
        responses=ProjectUserSerializer,
    )
    def post(self, request: Request, project_id: str) -> Response:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        serializer = ProjectUserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = organization_member_get(
            access=self.access, user_public_id=serializer.validated_data["user_id"]
        )
        added = project_member_add(
            project=project, user=member.user, role=serializer.validated_data["role"]
        )
        return Response(ProjectUserSerializer(added).data)


class ProjectUserDetailView(OrganizationView):
    @operation("retrieve-project-user", responses=ProjectUserSerializer)
    def get(self, request: Request, project_id: str, user_id: str) -> Response:
        return Response(ProjectUserSerializer(self._member(project_id, user_id)).data)

    @operation(
        "modify-project-user",
        request=ProjectUserUpdateSerializer,
        responses=ProjectUserSerializer,
    )
    def post(self, request: Request, project_id: str, user_id: str) -> Response:
        member = self._member(project_id, user_id)
        serializer = ProjectUserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = project_member_role_change(member=member, **serializer.validated_data)
        return Response(ProjectUserSerializer(member).data)

    @operation("delete-project-user", responses=deleted("ProjectUser"))
    def delete(self, request: Request, project_id: str, user_id: str) -> Response:
        project_member_remove(member=self._member(project_id, user_id))
        return Response(deleted_body("organization.project.user", user_id))

    def _member(self, project_id: str, user_id: str) -> ProjectMember:
        project = project_get_for_admin(access=self.access, public_id=project_id)
        return project_member_get(
            access=self.access, project=project, user_public_id=user_id
        )
