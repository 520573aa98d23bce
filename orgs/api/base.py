"""The base of every organization admin view: who may call, and on which organization."""

from typing import ClassVar

from rest_framework.views import APIView

from orgs.permissions import OrganizationAccessRequired
from orgs.selectors import OrganizationAccess


class OrganizationView(APIView):
    """An admin view acting on the caller's organization (`self.access`).

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
