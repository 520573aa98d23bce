"""Organization users (members)."""

from rest_framework.request import Request
from rest_framework.response import Response

from janserver.api.pagination import list_query, paginated_response
from janserver.api.schema import deleted, list_schema, operation
from janserver.api.shapes import deleted_body
from orgs.api.base import OrganizationView
from orgs.api.serializers import (
    OrganizationUserSerializer,
    OrganizationUserUpdateSerializer,
)
from orgs.selectors import organization_member_get, organization_member_list
from orgs.services import organization_member_remove, organization_member_role_change


class OrganizationUserListView(OrganizationView):
    @list_schema("list-users", OrganizationUserSerializer, "OrganizationUser")
    def get(self, request: Request) -> Response:
        members = organization_member_list(access=self.access)
        return paginated_response(
            members,
            list_query(request),
            OrganizationUserSerializer,
            id_field="user__public_id",
        )


class OrganizationUserDetailView(OrganizationView):
    @operation("retrieve-user", responses=OrganizationUserSerializer)
    def get(self, request: Request, user_id: str) -> Response:
        member = organization_member_get(access=self.access, user_public_id=user_id)
        return Response(OrganizationUserSerializer(member).data)

    @operation(
        "modify-user",
        request=OrganizationUserUpdateSerializer,
        responses=OrganizationUserSerializer,
    )
    def post(self, request: Request, user_id: str) -> Response:
        member = organization_member_get(access=self.access, user_public_id=user_id)
        serializer = OrganizationUserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = organization_member_role_change(
            member=member, **serializer.validated_data
        )
        return Response(OrganizationUserSerializer(member).data)

    @operation("delete-user", responses=deleted("OrganizationUser"))
    def delete(self, request: Request, user_id: str) -> Response:
        member = organization_member_get(access=self.access, user_public_id=user_id)
        organization_member_remove(member=member)
        return Response(deleted_body("organization.user", user_id))
