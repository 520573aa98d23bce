"""Organization admin reads: every lookup is scoped to and checked against the caller.

Zulip's access_* style: a selector fetches only what the caller's OrganizationAccess
may see (or change, when the call writes), so that a view cannot forget a check. A
foreign id answers NotFound exactly like an unknown one.
"""

from dataclasses import dataclass, replace

from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import User
from janserver.errors import Forbidden, NotFound
from janserver.principal import Principal, PrincipalKind
from orgs.models import (
    ApiKey,
    ApiKeyKind,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Project,
    ProjectMember,
    ProjectStatus,
)
from orgs.selectors.tenancy import project_role_get

ORGANIZATION_HEADER = "OpenAI-Organization"


@dataclass(frozen=True)
class OrganizationAccess:
    """The organization a call acts on, who acts, with which role, and whether it writes."""

    organization: Organization
    user: User
    role: str
    write: bool = False
    via_admin_key: bool = False

    @property
    def is_owner(self) -> bool:
        return self.role == OrganizationRole.OWNER

    @property
    def reads_organization(self) -> bool:
        """Whether the caller may read the organization (owners and readers)."""
        return OrganizationRole(self.role).reads_organization


def _organization_not_found(public_id: str) -> NotFound:
    return NotFound(f"No organization {public_id!r}.", param=ORGANIZATION_HEADER)


def organization_access_get(
    *,
    principal: Principal,
    organization_public_id: str | None,
    write: bool,
    owner_writes: bool = True,
    members_allowed: bool = False,
) -> OrganizationAccess:
    """Return the caller's access to the organization of an admin call.

    An admin key acts in its own organization with its owner's rights (an owner's); a
    user in the organization named by `organization_public_id` (the OpenAI-Organization
    header) if a member, else in the default organization. An organization the caller is not a
    member of answers NotFound like an unknown one. Only owners and readers pass
    (Forbidden otherwise) unless `members_allowed`, for the routes whose selectors
    limit members to their own projects. With `write` and `owner_writes`, only owners
    pass (Forbidden otherwise).
    """
    # One query: the membership, its organization and a freshly loaded user.
    members = OrganizationMember.objects.select_related("organization", "user").filter(
        user__public_id=principal.user_public_id, user__is_active=True
    )
    if principal.kind == PrincipalKind.ADMIN_KEY:
        access = _admin_key_access_get(principal, members, organization_public_id)
    elif principal.kind == PrincipalKind.USER:
        access = _user_access_get(members, organization_public_id)
    else:
        raise Forbidden("Project API keys cannot use organization admin routes.")
    if not access.reads_organization and not members_allowed:
        raise Forbidden(
            "Only the organization's owners and readers may use this route; "
            "ask an owner for the reader role."
        )
    if write and owner_writes and not access.is_owner:
        raise Forbidden(
            f"Only organization owners may change this; your role is {access.role!r}."
        )
    return replace(access, write=write)


def _admin_key_access_get(
    principal: Principal,
    members: QuerySet[OrganizationMember],
    organization_public_id: str | None,
) -> OrganizationAccess:
    if principal.organization_id is None:
        raise Forbidden("This admin key belongs to no organization.")
    member = members.filter(organization_id=principal.organization_id).first()
    if member is None:
        # The owner left the organization; leaving revokes their keys, so this is a
        # key the cache has not forgotten yet.
        raise Forbidden("The owner of this admin key is no longer in its organization.")
    if (
        organization_public_id
        and organization_public_id != member.organization.public_id
    ):
        raise _organization_not_found(organization_public_id)
    # Only owners hold admin keys (demotion revokes them), so this is owner rights;
    # a key left over by a change made elsewhere (the admin site) gets no more than
    # its owner's role.
    return OrganizationAccess(
        member.organization, member.user, member.role, via_admin_key=True
    )


def _user_access_get(
    members: QuerySet[OrganizationMember], organization_public_id: str | None
) -> OrganizationAccess:
    if organization_public_id:
        member = members.filter(organization__public_id=organization_public_id).first()
        if member is None:
            raise _organization_not_found(organization_public_id)
    else:
        member = members.filter(organization__is_default=True).first()
        if member is None:
            raise Forbidden(
                "You are not a member of the default organization; name your "
                f"organization in the {ORGANIZATION_HEADER} header."
            )
    return OrganizationAccess(member.organization, member.user, member.role)


def object_not_found(kind: str, public_id: str, param: str) -> NotFound:
    """Return the error for an id that is unknown or the caller's to not see.

    Foreign and unknown ids get the same body: the message names only the id asked for.
    """
    return NotFound(f"No {kind} with id {public_id!r}.", param=param)


def _api_keys_with_owner_roles() -> QuerySet[ApiKey]:
    org_role = OrganizationMember.objects.filter(
        organization_id=OuterRef("organization_id"), user_id=OuterRef("owner_id")
    ).values("role")[:1]
    project_role = ProjectMember.objects.filter(
        project_id=OuterRef("project_id"), user_id=OuterRef("owner_id")
    ).values("role")[:1]
    return (
        ApiKey.objects.select_related("owner", "project")
        .filter(revoked_at__isnull=True)
        .annotate(
            owner_org_role=Subquery(org_role), owner_project_role=Subquery(project_role)
        )
    )


def admin_api_key_list(*, access: OrganizationAccess) -> QuerySet[ApiKey]:
    """Return the organization's unrevoked admin keys, owners and their roles joined."""
    return _api_keys_with_owner_roles().filter(
        organization=access.organization, kind=ApiKeyKind.ADMIN
    )


def admin_api_key_get(*, access: OrganizationAccess, public_id: str) -> ApiKey:
    """Return an unrevoked admin key of the organization; raise NotFound."""
    api_key = admin_api_key_list(access=access).filter(public_id=public_id).first()
    if api_key is None:
        raise object_not_found("admin API key", public_id, "key_id")
    return api_key


def project_list(
    *, access: OrganizationAccess, include_archived: bool = False
) -> QuerySet[Project]:
    """Return the organization's projects, active ones only unless `include_archived`."""
    projects = Project.objects.filter(organization=access.organization)
    if not include_archived:
        projects = projects.filter(status=ProjectStatus.ACTIVE)
    return projects


def project_get_for_admin(*, access: OrganizationAccess, public_id: str) -> Project:
    """Return a project of the organization (archived ones too); raise NotFound."""
    project = project_list(access=access, include_archived=True)
    found = project.filter(public_id=public_id).first()
    if found is None:
        raise object_not_found("project", public_id, "project_id")
    return found


def project_get_for_keys(*, access: OrganizationAccess, public_id: str) -> Project:
    """Return a project whose API keys the caller may see, or create when writing.

    Owners and readers may read any project's keys, members only those of their own
    projects (any other is NotFound, like an unknown one); to write, a non-owner must
    be a member of the project (Forbidden otherwise).
    """
    project = project_get_for_admin(access=access, public_id=public_id)
    if access.is_owner:
        return project
    in_project = project_role_get(project=project, user=access.user) is not None
    if not in_project and not access.reads_organization:
        raise object_not_found("project", public_id, "project_id")
    if access.write and not in_project:
        raise Forbidden(
            f"You are not a member of project {project.public_id}; only its members "
            "and organization owners may create or revoke its API keys."
        )
    return project


def project_api_key_list(
    *, access: OrganizationAccess, project: Project
) -> QuerySet[ApiKey]:
    """Return the project's unrevoked keys (`project` comes from project_get_for_keys)."""
    return _api_keys_with_owner_roles().filter(
        organization=access.organization, project=project, kind=ApiKeyKind.PROJECT
    )


def project_api_key_get(
    *, access: OrganizationAccess, project: Project, public_id: str
) -> ApiKey:
    """Return an unrevoked key of the project; a non-owner may write only their own."""
    api_key = (
        project_api_key_list(access=access, project=project)
        .filter(public_id=public_id)
        .first()
    )
    if api_key is None:
        raise object_not_found("project API key", public_id, "key_id")
    if access.write and not access.is_owner and api_key.owner_id != access.user.pk:
        raise Forbidden("Only the key's owner and organization owners may revoke it.")
    return api_key


def organization_member_list(
    *, access: OrganizationAccess
) -> QuerySet[OrganizationMember]:
    """Return the organization's memberships, users joined."""
    return OrganizationMember.objects.select_related("user").filter(
        organization=access.organization
    )


def organization_member_get(
    *, access: OrganizationAccess, user_public_id: str, param: str = "user_id"
) -> OrganizationMember:
    """Return the membership of a user in the organization; raise NotFound."""
    member = (
        organization_member_list(access=access)
        .filter(user__public_id=user_public_id)
        .first()
    )
    if member is None:
        raise object_not_found("user", user_public_id, param)
    return member


def project_member_list(
    *, access: OrganizationAccess, project: Project
) -> QuerySet[ProjectMember]:
    """Return the project's memberships, users joined (`project` is access-checked)."""
    return ProjectMember.objects.select_related("user").filter(
        project=project, project__organization=access.organization
    )


def project_member_get(
    *, access: OrganizationAccess, project: Project, user_public_id: str
) -> ProjectMember:
    """Return the membership of a user in the project; raise NotFound."""
    member = (
        project_member_list(access=access, project=project)
        .filter(user__public_id=user_public_id)
        .first()
    )
    if member is None:
        raise object_not_found("project user", user_public_id, "user_id")
    return member
