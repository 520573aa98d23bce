"""The DRF permission of organization admin routes, for the views of every app.

A view using it names the organization the call acts on in `view.access` (an
OrganizationAccess, see orgs.selectors.organization_access_get), with these class
attributes: `owner_writes` (default True: writes need an owner; off, the view's
selectors decide from `access.write`) and `members_allowed` (default False: only
owners and readers pass; on, the view's selectors show members no more than their
own projects).
"""

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


class OrganizationAccessRequired(AdminAccess):
    """Login users and admin keys with access to the organization (see the module)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        super().has_permission(request, view)
        if not hasattr(view, (request.method or "").lower()):
            return True  # dispatch answers 405
        view.access = organization_access_get(
            principal=principal_of(request),
            organization_public_id=request.headers.get(ORGANIZATION_HEADER),
            write=request.method not in SAFE_METHODS,
            owner_writes=getattr(view, "owner_writes", True),
            members_allowed=getattr(view, "members_allowed", False),
        )
        return True


class OrganizationView(APIView):
    """The base of every organization admin view, in any app: it acts on the caller's
    organization (`self.access`).

    Login users and admin keys may call; project keys get 403. Only the organization's
    owners and readers pass, unless `members_allowed` is on, in which case the view's
    selectors show members no more than their own projects. Writes (any method but
    GET, HEAD and OPTIONS) need an organization owner unless `owner_writes` is off, in
    which case the view's selectors decide from `access.write`.
    """

    permission_classes = [OrganizationAccessRequired]
    owner_writes: ClassVar[bool] = True
    members_allowed: ClassVar[bool] = False
    access: OrganizationAccess
