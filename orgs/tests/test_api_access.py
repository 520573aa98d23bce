"""Who may read an organization: owners and granted readers, never mere members.

Everyone who signs up (guests included) joins the default organization as a
`member`, to hold a personal project there; that must not open its admin routes.
"""

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from accounts.models import User
from orgs.models import Invite, OrganizationMember, Project
from orgs.services import api_key_create, invite_accept, invite_create
from orgs.tests.factories import OrganizationMemberFactory, ProjectFactory
from orgs.tests.test_api_base import ROUTES, Api, error, member, not_found, user_api

pytestmark = pytest.mark.django_db

ONLY_READERS = error(
    "permission_error",
    "insufficient_permissions",
    "Only the organization's owners and readers may use this route; "
    "ask an owner for the reader role.",
)
READS = [path for method, path in ROUTES if method == "get"] + [
    "/models/providers",
    "/projects/{p}/models/providers",
]
# Routes whose selectors show a member their own projects only.
PROJECT_KEY_ROUTES = ("/projects/{p}/api_keys", "/projects/{p}/api_keys/key_x")


def _guest(client: Client) -> tuple[User, Api]:
    """Sign up as a guest the way Jan's web app does, and call as that guest."""
    response = client.post("/v1/auth/guest-login")
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    return User.objects.get(public_id=me["id"]), Api(token)


@pytest.fixture
def populated_default_org(default_org):
    """The default organization with an owner, an admin key and a shared project."""
    owner = member(default_org, "owner")
    api_key_create(kind="admin", organization=default_org, owner=owner, name="ops")
    project = ProjectFactory(organization=default_org, name="Shared")
    api_key_create(
        kind="project", organization=default_org, project=project, owner=owner
    )
    return owner, project


@pytest.mark.parametrize("path", READS)
def test_a_guest_reads_nothing_of_the_default_organization(
    path, client, populated_default_org
):
    """A guest token lists no member, e-mail, project or key of the organization."""
    owner, project = populated_default_org
    _guest_user, api = _guest(client)
    response = api.get(path.format(p=project.public_id, u=owner.public_id))
    body = response.json()
    if path in PROJECT_KEY_ROUTES:
        assert response.status_code == 404
        assert body == not_found("project", project.public_id, "project_id")
    else:
        assert response.status_code == 403
        assert body == ONLY_READERS
    assert owner.email not in response.content.decode()


def test_a_guest_is_a_member_of_the_default_organization(client, default_org):
    """Signing up joins the default organization without admin rights."""
    guest, _api = _guest(client)
    membership = OrganizationMember.objects.get(organization=default_org, user=guest)
    assert membership.role == "member"


def test_a_member_manages_the_keys_of_their_own_project(client, populated_default_org):
    """The personal project's keys stay the member's to list, create and revoke."""
    _owner, _shared = populated_default_org
    guest, api = _guest(client)
    own = Project.objects.get(memberships__user=guest)
    created = api.post(f"/projects/{own.public_id}/api_keys", {"description": "mine"})
    assert created.status_code == 200
    key_id = created.json()["result"]["id"]
    listed = api.get(f"/projects/{own.public_id}/api_keys").json()["data"]
    assert [key["id"] for key in listed] == [key_id]
    assert api.get(f"/projects/{own.public_id}/api_keys/{key_id}").status_code == 200
    assert api.delete(f"/projects/{own.public_id}/api_keys/{key_id}").json() == {
        "object": "organization.project.api_key.deleted",
        "id": key_id,
        "deleted": True,
    }


def test_a_member_of_a_shared_project_reads_its_keys(
    default_org, populated_default_org
):
    """Project membership, not the organization role, opens a project's keys."""
    _owner, shared = populated_default_org
    user = member(default_org, "member")
    shared.memberships.create(user=user, role="member")
    response = user_api(user).get(f"/projects/{shared.public_id}/api_keys")
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


@pytest.mark.parametrize("role", ["reader", "owner"])
def test_granted_roles_read_the_organization(role, client, populated_default_org):
    """An owner raising a member to reader (or owner) opens the admin reads."""
    owner, project = populated_default_org
    guest, api = _guest(client)
    raised = user_api(owner).post(f"/users/{guest.public_id}", {"role": role})
    assert raised.status_code == 200
    assert raised.json()["role"] == role
    emails = [user["email"] for user in api.get("/users").json()["data"]]
    assert owner.email in emails
    assert api.get(f"/projects/{project.public_id}/api_keys").status_code == 200


def test_a_reader_lists_members_with_their_roles(default_org):
    """Members are listed with role `member`, so owners can see whom to raise."""
    reader = member(default_org, "reader")
    plain = member(default_org, "member")
    users = user_api(reader).get("/users").json()["data"]
    assert {user["id"]: user["role"] for user in users} == {
        reader.public_id: "reader",
        plain.public_id: "member",
    }


def test_an_invite_raises_a_member_to_its_role(default_org):
    """A member may be invited to a role with admin rights; accepting grants it."""
    plain = member(default_org, "member")
    _invite, code = invite_create(
        organization=default_org, email=plain.email, role="reader"
    )
    invite_accept(code=code, user=plain)
    assert OrganizationMember.objects.get(user=plain).role == "reader"


def test_a_member_cannot_be_invited_to_what_they_have(default_org):
    """Inviting a member as a member is a conflict, like any existing membership."""
    plain = member(default_org, "member")
    response = user_api(member(default_org, "owner")).post(
        "/invites", {"email": plain.email, "role": "member"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        f"{plain.email} is already a member of the organization (role member)."
    )


def test_an_invite_never_lowers_a_role(default_org):
    """A role raised while the invite was pending stays when it is accepted."""
    plain = member(default_org, "member")
    _invite, code = invite_create(
        organization=default_org, email=plain.email, role="reader"
    )
    OrganizationMember.objects.filter(user=plain).update(role="owner")
    invite_accept(code=code, user=plain)
    assert OrganizationMember.objects.get(user=plain).role == "owner"


def _run_data_migration() -> None:
    migration: Any = importlib.import_module(
        "orgs.migrations.0003_organization_member_role"
    )
    migration.demote_self_registered_readers(apps, None)


def test_the_migration_demotes_self_registered_readers_only(default_org, organization):
    """Readers of the default organization who never accepted an invite to it
    become members; invited readers, owners and other organizations keep theirs."""
    signed_up = member(default_org, "reader")
    invited = member(default_org, "reader")
    owner = member(default_org, "owner")
    elsewhere = OrganizationMemberFactory(organization=organization, role="reader").user
    _invite, code = invite_create(
        organization=default_org, email="late@example.com", role="reader"
    )
    Invite.objects.filter(email="late@example.com").update(email=invited.email)
    invite_accept(code=code, user=invited)
    _run_data_migration()
    roles = dict(OrganizationMember.objects.values_list("user__public_id", "role"))
    assert roles == {
        signed_up.public_id: "member",
        invited.public_id: "reader",
        owner.public_id: "owner",
        elsewhere.public_id: "reader",
    }
