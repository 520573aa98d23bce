"""Invites: create (emails the link), list, get, delete, and accept by code."""

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from janserver.api.pagination import list_query, paginated_response
from janserver.api.schema import deleted, list_schema, operation
from janserver.api.shapes import deleted_body
from janserver.auth import IsAuthenticated, principal_of
from janserver.throttling import AuthRateThrottle
from orgs.api.base import OrganizationView
from orgs.api.serializers import (
    InviteCreateSerializer,
    InviteSerializer,
    InviteVerifySerializer,
)
from orgs.selectors import invite_get, invite_list, invite_projects_get, invitee_get
from orgs.services import invite_accept, invite_delete, invite_send

INVITE_CURSOR = {"time_field": "invited_at"}


class InviteListView(OrganizationView):
    @list_schema("list-invites", InviteSerializer, "Invite")
    def get(self, request: Request) -> Response:
        invites = invite_list(access=self.access)
        query = list_query(request)
        return paginated_response(invites, query, InviteSerializer, **INVITE_CURSOR)

    @operation("inviteUser", request=InviteCreateSerializer, responses=InviteSerializer)
    def post(self, request: Request) -> Response:
        serializer = InviteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        projects = invite_projects_get(
            access=self.access, projects=data.pop("projects")
        )
        invite = invite_send(
            organization=self.access.organization,
            invited_by=self.access.user,
            projects=projects,
            **data,
        )
        return Response(InviteSerializer(invite).data)


class InviteDetailView(OrganizationView):
    @operation("retrieve-invite", responses=InviteSerializer)
    def get(self, request: Request, invite_id: str) -> Response:
        invite = invite_get(access=self.access, public_id=invite_id)
        return Response(InviteSerializer(invite).data)

    @operation("delete-invite", responses=deleted("Invite"))
    def delete(self, request: Request, invite_id: str) -> Response:
        invite_delete(invite=invite_get(access=self.access, public_id=invite_id))
        return Response(deleted_body("organization.invite", invite_id))


class InviteVerificationView(APIView):
    """Accept an invite: any signed-in user whose email the invite was sent to."""

    permission_classes = [IsAuthenticated]
    throttle_classes = [AuthRateThrottle]

    @operation(
        "verify-invite", request=InviteVerifySerializer, responses=InviteSerializer
    )
    def post(self, request: Request) -> Response:
        serializer = InviteVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invite = invite_accept(
            code=serializer.validated_data["code"],
            user=invitee_get(principal=principal_of(request)),
        )
        return Response(InviteSerializer(invite).data)
