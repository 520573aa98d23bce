"""Project writes: projects, personal default projects, project members."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from janserver import auth_cache
from janserver.errors import Conflict, Forbidden, InvalidRequest
from orgs.models import (
    ApiKey,
    Organization,
    OrganizationMember,
    Project,
    ProjectMember,
    ProjectRole,
    ProjectStatus,
)
from orgs.services.api_keys import api_keys_revoke
from orgs.services.organizations import organization_default_ensure


@transaction.atomic
def project_create(
    *, organization: Organization, name: str, owner: User | None = None
) -> Project:
    """Create a project; `owner`, when given, becomes its owner and an organization member."""
    name = name.strip()
    if not name:
        raise InvalidRequest("The project name must not be empty.", param="name")
    project = Project.objects.create(organization=organization, name=name)
    if owner is not None:
        OrganizationMember.objects.get_or_create(organization=organization, user=owner)
        ProjectMember.objects.create(
            project=project, user=owner, role=ProjectRole.OWNER
        )
    return project


@transaction.atomic
def project_personal_ensure(
    *, user: User, organization: Organization | None = None
) -> Project:
    """Return the user's "Default Project" in `organization` (default org), creating it.

    In the default organization the user becomes a member as needed; elsewhere the user
    must already be a member.
    """
    organization = organization or organization_default_ensure()
    if organization.is_default:
        OrganizationMember.objects.get_or_create(organization=organization, user=user)
    elif not OrganizationMember.objects.filter(
        organization=organization, user=user
    ).exists():
        raise Forbidden(
            f"{user.email} is not a member of organization {organization.public_id}."
        )
    project = (
        Project.objects.filter(
            organization=organization,
            name=settings.DEFAULT_PROJECT_NAME,
            status=ProjectStatus.ACTIVE,
            memberships__user=user,
            memberships__role=ProjectRole.OWNER,
        )
        .order_by("created_at", "pk")
        .first()
    )
    return project or project_create(
        organization=organization, name=settings.DEFAULT_PROJECT_NAME, owner=user
    )


@transaction.atomic
def project_update(*, project: Project, name: str) -> Project:
    """Rename a project."""
    name = name.strip()
    if not name:
        raise InvalidRequest("The project name must not be empty.", param="name")
    project.name = name
    project.full_clean(validate_unique=False, validate_constraints=False)
    project.save(update_fields=["name", "updated_at"])
    return project


@transaction.atomic
def project_archive(*, project: Project) -> Project:
    """Archive a project (idempotent); its keys stop working at once."""
    if project.status != ProjectStatus.ARCHIVED:
        project.status = ProjectStatus.ARCHIVED
        project.archived_at = timezone.now()
        project.save(update_fields=["status", "archived_at", "updated_at"])
    # Authentication refuses keys of archived projects, but may hold them in its cache.
    for key_hash in ApiKey.objects.filter(project=project).values_list(
        "key_hash", flat=True
    ):
        auth_cache.invalidate("key", key_hash)
    return project


def project_member_set(*, project: Project, user: User, role: str) -> ProjectMember:
    """Add `user` to `project` with `role`, or change the role of an existing member."""
    if role not in ProjectRole.values:
        raise InvalidRequest(f"Unknown project role {role!r}.", param="role")
    member, created = ProjectMember.objects.get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and member.role != role:
        member.role = role
        member.save(update_fields=["role"])
    return member


def _project_role_check(role: str) -> None:
    if role not in ProjectRole.values:
        raise InvalidRequest(
            f"Unknown project role {role!r}; use owner or member.", param="role"
        )


@transaction.atomic
def project_member_add(*, project: Project, user: User, role: str) -> ProjectMember:
    """Add an organization member to an active project; Conflict if already in it."""
    _project_role_check(role)
    if project.is_archived:
        raise InvalidRequest(f"Project {project.public_id} is archived.")
    if not OrganizationMember.objects.filter(
        organization_id=project.organization_id, user=user
    ).exists():
        raise InvalidRequest(
            "Only members of the project's organization can join it.", param="user_id"
        )
    if ProjectMember.objects.filter(project=project, user=user).exists():
        raise Conflict(
            f"{user.public_id} is already a member of project {project.public_id}.",
            param="user_id",
        )
    return ProjectMember.objects.create(project=project, user=user, role=role)


@transaction.atomic
def project_member_role_change(*, member: ProjectMember, role: str) -> ProjectMember:
    """Change the role of a project member."""
    _project_role_check(role)
    if member.role != role:
        member.role = role
        member.save(update_fields=["role"])
    return member


@transaction.atomic
def project_member_remove(*, member: ProjectMember) -> None:
    """Remove a user from a project and revoke their API keys of that project."""
    api_keys_revoke(
        keys=ApiKey.objects.filter(
            project_id=member.project_id, owner_id=member.user_id
        )
    )
    member.delete()
