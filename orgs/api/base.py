"""The base of every organization admin view: who may call, and on which organization."""

from typing import Any, ClassVar

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.views import APIView

from janserver.auth import AdminAccess, principal_of
from orgs.selectors import (
    ORGANIZATION_HEADER,
    OrganizationAccess,
    organization_access_get,
)


class OrganizationView(APIView):
    """An admin view acting on the caller's organization (`self.access`).

    Login users and admin keys may call; project keys get 403. Only the organization's
    owners and readers pass, unless `members_allowed` is on, in which case the view's
    selectors show members no more than their own projects. Writes (any method but
    GET, HEAD and OPTIONS) need an organization owner unless `owner_writes` is off, in
    which case the view's selectors decide from `access.write`.
    """

    permission_classes = [AdminAccess]
    owner_writes: ClassVar[bool] = True
    members_allowed: ClassVar[bool] = False
    access: OrganizationAccess

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not hasattr(self, (request.method or "").lower()):
            return  # dispatch answers 405
        self.access = organization_access_get(
            principal=principal_of(request),
            organization_public_id=request.headers.get(ORGANIZATION_HEADER),
            write=request.method not in SAFE_METHODS,
            owner_writes=self.owner_writes,
            members_allowed=self.members_allowed,
        )
