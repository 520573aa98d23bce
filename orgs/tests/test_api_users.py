"""Organization admin API: organization users and project users."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs.models import ApiKey, OrganizationMember, ProjectMember
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)
from orgs.tests.test_api_base import (
    Api,
    error,
    member,
    not_found,
    user_api,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


def ts(value):
    return int(value.timestamp())


def user_body(membership, object_type="organization.user") -> dict:
    membership.refresh_from_db()
    return {
        "object": object_type,
        "id": membership.user.public_id,
        "name": membership.user.name,
        "email": membership.user.email,
        "role": membership.role,
        "added_at": ts(membership.created_at),
    }


def project_user_body(membership) -> dict:
    return user_body(membership, "organization.project.user")


LAST_OWNER = {
    "demote": error(
        "invalid_request_error",
        "conflict",
        "Cannot demote the last active owner of the organization; make another member "
        "an owner first.",
    ),
    "remove": error(
        "invalid_request_error",
        "conflict",
        "Cannot remove the last active owner of the organization; make another member "
        "an owner first.",
    ),
}


# Organization users.


def test_list_and_get_organization_users(api, owner, organization):
    reader = OrganizationMemberFactory(
        organization=organization, created_at=timezone.now() + timedelta(seconds=1)
    )
    mine = OrganizationMember.objects.get(user=owner)
    assert api.get("/users").json() == {
        "object": "list",
        "data": [user_body(mine), user_body(reader)],
        "first_id": owner.public_id,
        "last_id": reader.user.public_id,
        "has_more": False,
    }
    response = api.get(f"/users/{reader.user.public_id}")
    assert response.json() == user_body(reader)


def test_user_pages_follow_the_user_id_cursor(api, owner, organization):
    later = timezone.now() + timedelta(seconds=1)
    others = [
        OrganizationMemberFactory(
            organization=organization, created_at=later + timedelta(seconds=i)
        ).user.public_id
        for i in range(3)
    ]
    page = api.get("/users", {"limit": 2, "after": owner.public_id}).json()
    assert ([u["id"] for u in page["data"]], page["has_more"]) == (others[:2], True)
    rest = api.get("/users", {"last": page["last_id"]}).json()
    assert [u["id"] for u in rest["data"]] == others[2:]


def test_change_a_members_role(api, organization):
    reader = OrganizationMemberFactory(organization=organization)
    response = api.post(f"/users/{reader.user.public_id}", {"role": "owner"})
    assert response.status_code == 200
    assert response.json() == {**user_body(reader), "role": "owner"}


def test_demoting_an_owner_revokes_their_admin_keys(api, organization):
    other = member(organization, "owner")
    admin_key, secret = api_key_create(
        kind="admin", organization=organization, owner=other
    )
    assert Api(secret).get("/users").status_code == 200
    response = api.post(f"/users/{other.public_id}", {"role": "reader"})
    assert response.json()["role"] == "reader"
    admin_key.refresh_from_db()
    assert admin_key.revoked_at is not None
    assert Api(secret).get("/users").status_code == 401


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_the_last_owner_stays(action, api, owner):
    path = f"/users/{owner.public_id}"
    if action == "demote":
        response = api.post(path, {"role": "reader"})
    else:
        response = api.delete(path)
    assert response.status_code == 409
    assert response.json() == LAST_OWNER[action]
    assert OrganizationMember.objects.get(user=owner).role == "owner"


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_a_disabled_owner_does_not_count_as_the_one_left(
    action, api, owner, organization
):
    """A disabled user's ownership cannot be used, so it does not keep the org owned."""
    disabled = member(organization, "owner")
    disabled.is_active = False
    disabled.save(update_fields=["is_active"])
    path = f"/users/{owner.public_id}"
    response = (
        api.post(path, {"role": "reader"}) if action == "demote" else api.delete(path)
    )
    assert response.status_code == 409
    assert response.json() == LAST_OWNER[action]


def test_an_owner_may_leave_when_another_owner_remains(api, owner, organization):
    member(organization, "owner")
    assert api.post(f"/users/{owner.public_id}", {"role": "reader"}).status_code == 200


def test_removing_a_member_drops_their_projects_and_keys(api, organization):
    project = ProjectFactory(organization=organization)
    elsewhere = ProjectMemberFactory()
    leaving = member(organization)
    ProjectMemberFactory(project=project, user=leaving)
    ProjectMemberFactory(project=elsewhere.project, user=leaving)
    key, secret = api_key_create(
        kind="project", organization=organization, project=project, owner=leaving
    )
    response = api.delete(f"/users/{leaving.public_id}")
    assert response.json() == {
        "object": "organization.user.deleted",
        "id": leaving.public_id,
        "deleted": True,
    }
    assert not OrganizationMember.objects.filter(
        user=leaving, organization=organization
    ).exists()
    assert list(ProjectMember.objects.filter(user=leaving)) == [
        ProjectMember.objects.get(project=elsewhere.project, user=leaving)
    ]
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert Api(secret).get("/projects").status_code == 401


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "role", "missing_required_parameter"),
        ({"role": "admin"}, "role", "invalid_value"),
        ({"role": "Owner"}, "role", "invalid_value"),
        ({"role": "r" * 10_000}, "role", "invalid_value"),
    ],
)
def test_roles_are_validated(body, param, code, api, organization):
    reader = OrganizationMemberFactory(organization=organization)
    response = api.post(f"/users/{reader.user.public_id}", body)
    assert response.status_code == 400
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (
        param,
        code,
    )


@pytest.mark.parametrize("method", ["get", "post", "delete"])
@pytest.mark.parametrize("foreign", [True, False])
def test_a_user_of_another_organization_is_not_found(method, foreign, api):
    """Users outside the organization answer like unknown ones, and are left alone."""
    outsider = OrganizationMemberFactory(role="owner")
    public_id = outsider.user.public_id if foreign else "user_unknown"
    path = f"/users/{public_id}"
    response = (
        api.post(path, {"role": "reader"})
        if method == "post"
        else getattr(api, method)(path)
    )
    assert response.status_code == 404
    assert response.json() == not_found("user", public_id, "user_id")
    outsider.refresh_from_db()
    assert outsider.role == "owner"


@pytest.mark.parametrize("rows", [1, 5])
def test_listing_users_takes_a_fixed_number_of_queries(
    rows, api, organization, django_assert_num_queries
):
    for _ in range(rows):
        OrganizationMemberFactory(organization=organization)
    api.get("/users")
    with django_assert_num_queries(2):
        assert len(api.get("/users").json()["data"]) == rows + 1
