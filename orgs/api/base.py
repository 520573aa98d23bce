"""The base of every organization admin view (defined in orgs.permissions, where the
views of other apps find it too)."""

from orgs.permissions import OrganizationView

__all__ = ["OrganizationView"]
