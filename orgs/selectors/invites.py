"""Invite reads for the organization admin API, scoped to the caller's organization."""

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from janserver.errors import Forbidden, InvalidRequest, Unauthenticated
from janserver.principal import Principal, PrincipalKind
from orgs.models import Invite, InviteProject, Project
from orgs.selectors.admin import OrganizationAccess, object_not_found, project_list


def invitee_get(*, principal: Principal) -> User:
    """Return the signed-in user who may accept an invite; API keys may not (Forbidden)."""
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("Only a signed-in user can accept an invite, not an API key.")
    user = User.objects.filter(
        public_id=principal.user_public_id, is_active=True
    ).first()
    if user is None:
        raise Unauthenticated()
    return user


def invite_list(*, access: OrganizationAccess) -> QuerySet[Invite]:
    """Return the organization's invites, their projects prefetched."""
    return Invite.objects.filter(organization=access.organization).prefetch_related(
        Prefetch("projects", queryset=InviteProject.objects.select_related("project"))
    )


def invite_get(*, access: OrganizationAccess, public_id: str) -> Invite:
    """Return an invite of the organization; raise NotFound."""
    invite = invite_list(access=access).filter(public_id=public_id).first()
    if invite is None:
        raise object_not_found("invite", public_id, "invite_id")
    return invite


def invite_projects_get(
    *, access: OrganizationAccess, projects: list[tuple[str, str]]
) -> list[tuple[Project, str]]:
    """Resolve (project public id, role) pairs to active projects of the organization."""
    found = {
        project.public_id: project
        for project in project_list(access=access, include_archived=True).filter(
            public_id__in=[public_id for public_id, _ in projects]
        )
    }
    resolved = []
    for index, (public_id, role) in enumerate(projects):
        project = found.get(public_id)
        if project is None:
            raise object_not_found("project", public_id, f"projects[{index}].id")
        if project.is_archived:
            raise InvalidRequest(
                f"Project {public_id} is archived.", param=f"projects[{index}].id"
            )
        resolved.append((project, role))
    return resolved
