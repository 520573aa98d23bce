"""Tenancy reads: look up organizations, projects and API keys by public id."""

from django.db.models import QuerySet

from accounts.models import User
from janserver.errors import NotFound
from orgs.models import ApiKey, Organization, OrganizationMember, Project, ProjectMember

DEFAULT_ORGANIZATION_ALIAS = "default"


def organization_get(*, public_id: str) -> Organization:
    """Return the organization with this public id (or "default"); raise NotFound."""
    lookup: dict[str, object] = (
        {"is_default": True}
        if public_id == DEFAULT_ORGANIZATION_ALIAS
        else {"public_id": public_id}
    )
    organization = Organization.objects.filter(**lookup).first()
    if organization is None:
        raise NotFound(f"No organization {public_id!r}.", param="organization")
    return organization


def project_get(*, public_id: str, organization: Organization | None = None) -> Project:
    """Return the project with this public id, within `organization` if given; raise NotFound."""
    projects = Project.objects.select_related("organization")
    if organization is not None:
        projects = projects.filter(organization=organization)
    project = projects.filter(public_id=public_id).first()
    if project is None:
        raise NotFound(f"No project {public_id!r}.", param="project")
    return project


def api_key_get(*, public_id: str) -> ApiKey:
    """Return the API key with this public id; raise NotFound."""
    api_key = (
        ApiKey.objects.select_related("organization", "project", "owner")
        .filter(public_id=public_id)
        .first()
    )
    if api_key is None:
        raise NotFound(f"No API key {public_id!r}.", param="key_id")
    return api_key


def api_key_usable_get(*, key_hash: str) -> ApiKey | None:
    """Return the key with this hash if it may authenticate now, else None.

    The one place the rule lives: enabled, not revoked, not expired, an active owner,
    and (for project keys) an active project.
    """
    api_key = (
        ApiKey.objects.select_related("organization", "project", "owner")
        .filter(key_hash=key_hash)
        .first()
    )
    if api_key is None or not api_key.is_usable() or not api_key.owner.is_active:
        return None
    if api_key.project is not None and api_key.project.is_archived:
        return None
    return api_key


def api_key_list(*, organization: Organization | None = None) -> QuerySet[ApiKey]:
    """Return API keys (of one organization if given), newest first, owners and projects joined."""
    keys = ApiKey.objects.select_related("organization", "project", "owner").order_by(
        "-created_at", "-pk"
    )
    if organization is not None:
        keys = keys.filter(organization=organization)
    return keys


def organization_role_get(*, organization: Organization, user: User) -> str | None:
    """Return the user's role in the organization, or None when not a member."""
    return (
        OrganizationMember.objects.filter(organization=organization, user=user)
        .values_list("role", flat=True)
        .first()
    )


def project_role_get(*, project: Project, user: User) -> str | None:
    """Return the user's role in the project, or None when not a member."""
    return (
        ProjectMember.objects.filter(project=project, user=user)
        .values_list("role", flat=True)
        .first()
    )
