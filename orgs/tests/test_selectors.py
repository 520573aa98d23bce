"""Tenancy reads: the organization admin API's access-checked lookups."""

import pytest
from django.test import RequestFactory

from accounts.tokens import tokens_issue
from janserver.auth import authenticate
from janserver.errors import Forbidden, NotFound
from janserver.principal import Principal
from orgs.models import OrganizationRole
from orgs.selectors import (
    OrganizationAccess,
    invitee_get,
    organization_access_get,
    project_api_key_get,
    project_get_for_admin,
    project_get_for_keys,
)
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

pytestmark = pytest.mark.django_db


def principal(credential: str) -> Principal:
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {credential}")
    found = authenticate(request)
    assert found is not None
    return found


def user_principal(user) -> Principal:
    return principal(tokens_issue(user=user).access)


def access(organization, user, role, *, write=False) -> OrganizationAccess:
    return OrganizationAccess(organization, user, role, write)


@pytest.mark.parametrize(
    ("role", "write", "allowed"),
    [
        ("owner", False, True),
        ("owner", True, True),
        ("reader", False, True),
        ("reader", True, False),
    ],
)
def test_users_write_only_as_owners(role, write, allowed, organization):
    user = OrganizationMemberFactory(organization=organization, role=role).user
    call = {
        "principal": user_principal(user),
        "organization_public_id": organization.public_id,
        "write": write,
    }
    if not allowed:
        with pytest.raises(Forbidden):
            organization_access_get(**call)
        return
    found = organization_access_get(**call)
    assert (found.organization, found.user, found.role, found.write) == (
        organization,
        user,
        role,
        write,
    )


def test_writes_may_be_left_to_the_object_selectors(organization):
    """owner_writes=False lets a reader through, with access.write recorded."""
    user = OrganizationMemberFactory(organization=organization).user
    found = organization_access_get(
        principal=user_principal(user),
        organization_public_id=organization.public_id,
        write=True,
        owner_writes=False,
    )
    assert (found.role, found.write, found.is_owner) == ("reader", True, False)


def test_an_admin_key_has_owner_rights_in_its_organization(admin_key, organization):
    api_key, secret = admin_key
    found = organization_access_get(
        principal=principal(secret), organization_public_id=None, write=True
    )
    assert (found.organization, found.user, found.role, found.via_admin_key) == (
        organization,
        api_key.owner,
        OrganizationRole.OWNER,
        True,
    )
    # The user is loaded fresh, with every field right.
    assert (found.user.email, found.user.public_id) == (
        api_key.owner.email,
        api_key.owner.public_id,
    )


def test_a_project_key_has_no_organization_access(project_key):
    with pytest.raises(Forbidden):
        organization_access_get(
            principal=principal(project_key[1]),
            organization_public_id=None,
            write=False,
        )


def test_a_users_default_is_the_default_organization(default_org, organization):
    user = OrganizationMemberFactory(organization=organization, role="owner").user
    with pytest.raises(Forbidden):
        organization_access_get(
            principal=user_principal(user), organization_public_id=None, write=False
        )
    OrganizationMemberFactory(organization=default_org, user=user)
    found = organization_access_get(
        principal=user_principal(user), organization_public_id=None, write=False
    )
    assert (found.organization, found.role) == (default_org, "reader")


@pytest.mark.parametrize("public_id", ["foreign", "org_unknown"])
def test_organizations_of_others_are_not_found(public_id, organization):
    user = OrganizationMemberFactory(organization=organization).user
    if public_id == "foreign":
        public_id = OrganizationFactory().public_id
    with pytest.raises(NotFound) as raised:
        organization_access_get(
            principal=user_principal(user),
            organization_public_id=public_id,
            write=False,
        )
    assert raised.value.message == f"No organization {public_id!r}."


def test_project_lookups_stay_in_the_organization(organization, user):
    mine, theirs = ProjectFactory(organization=organization), ProjectFactory()
    caller = access(organization, user, "reader")
    assert project_get_for_admin(access=caller, public_id=mine.public_id) == mine
    with pytest.raises(NotFound):
        project_get_for_admin(access=caller, public_id=theirs.public_id)


@pytest.mark.parametrize(
    ("role", "in_project", "write", "allowed"),
    [
        ("reader", False, False, True),
        ("reader", False, True, False),
        ("reader", True, True, True),
        ("owner", False, True, True),
    ],
)
def test_project_keys_are_written_by_members_and_owners(
    role, in_project, write, allowed, project, user
):
    if in_project:
        ProjectMemberFactory(project=project, user=user)
    caller = access(project.organization, user, role, write=write)
    if allowed:
        assert (
            project_get_for_keys(access=caller, public_id=project.public_id) == project
        )
    else:
        with pytest.raises(Forbidden):
            project_get_for_keys(access=caller, public_id=project.public_id)


@pytest.mark.parametrize(
    ("role", "own", "write", "allowed"),
    [
        ("reader", False, False, True),
        ("reader", False, True, False),
        ("reader", True, True, True),
        ("owner", False, True, True),
    ],
)
def test_a_project_key_is_revoked_by_its_owner_or_an_org_owner(
    role, own, write, allowed, project, user
):
    ProjectMemberFactory(project=project, user=user)
    key_owner = user if own else ProjectMemberFactory(project=project).user
    api_key, _ = api_key_create(
        kind="project",
        organization=project.organization,
        project=project,
        owner=key_owner,
    )
    caller = access(project.organization, user, role, write=write)
    lookup = {"access": caller, "project": project, "public_id": api_key.public_id}
    if allowed:
        assert project_api_key_get(**lookup) == api_key
    else:
        with pytest.raises(Forbidden):
            project_api_key_get(**lookup)


def test_revoked_keys_are_not_found(project, user):
    ProjectMemberFactory(project=project, user=user)
    api_key, _ = api_key_create(
        kind="project", organization=project.organization, project=project, owner=user
    )
    api_key.revoked_at = api_key.created_at
    api_key.save()
    with pytest.raises(NotFound):
        project_api_key_get(
            access=access(project.organization, user, "owner"),
            project=project,
            public_id=api_key.public_id,
        )


def test_only_signed_in_users_accept_invites(user, admin_key):
    assert invitee_get(principal=user_principal(user)) == user
    with pytest.raises(Forbidden):
        invitee_get(principal=principal(admin_key[1]))
