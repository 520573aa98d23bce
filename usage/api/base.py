"""The base of the usage app's organization routes: who may call, on which organization."""

from typing import ClassVar

from rest_framework.views import APIView

from orgs.permissions import OrganizationAccessRequired
from orgs.selectors import OrganizationAccess


class OrganizationView(APIView):
    """A view acting on the caller's organization (`self.access`), as those of
    orgs.api: owners and readers read, owners write (orgs.permissions)."""

    permission_classes = [OrganizationAccessRequired]
    owner_writes: ClassVar[bool] = True
    members_allowed: ClassVar[bool] = False
    access: OrganizationAccess
