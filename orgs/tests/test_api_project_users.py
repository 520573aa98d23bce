"""Organization admin API: project users."""

import pytest

from orgs.models import ApiKey, ProjectMember
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)
from orgs.tests.test_api_base import admin_key_api, error, member, not_found, user_api
from orgs.tests.test_api_users import project_user_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


def test_add_list_change_and_remove_project_users(api, organization, project):
    reader = member(organization)
    base = f"/projects/{project.public_id}/users"
    added = api.post(base, {"user_id": reader.public_id, "role": "member"})
    assert added.status_code == 200
    membership = ProjectMember.objects.get(project=project, user=reader)
    assert added.json() == project_user_body(membership)
    assert api.get(base).json()["data"] == [project_user_body(membership)]
    path = f"{base}/{reader.public_id}"
    assert api.get(path).json() == project_user_body(membership)
    changed = api.post(path, {"role": "owner"})
    assert changed.json() == {**project_user_body(membership), "role": "owner"}
    assert api.delete(path).json() == {
        "object": "organization.project.user.deleted",
        "id": reader.public_id,
        "deleted": True,
    }
    assert api.get(base).json()["data"] == []


def test_removing_a_project_user_revokes_their_project_keys(api, organization, project):
    user = member(organization)
    ProjectMemberFactory(project=project, user=user)
    key, _ = api_key_create(
        kind="project", organization=organization, project=project, owner=user
    )
    api.delete(f"/projects/{project.public_id}/users/{user.public_id}")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_an_admin_key_manages_project_users(organization, project):
    reader = member(organization)
    api = admin_key_api(organization)
    response = api.post(
        f"/projects/{project.public_id}/users",
        {"user_id": reader.public_id, "role": "owner"},
    )
    assert response.json()["role"] == "owner"


@pytest.mark.parametrize("foreign", [True, False])
def test_only_organization_members_join_a_project(foreign, api, project):
    """A user of another organization is not found, exactly like an unknown one."""
    public_id = OrganizationMemberFactory().user.public_id if foreign else "user_nobody"
    response = api.post(
        f"/projects/{project.public_id}/users", {"user_id": public_id, "role": "member"}
    )
    assert response.status_code == 404
    assert response.json() == not_found("user", public_id, "user_id")
    assert not ProjectMember.objects.exists()


def test_a_project_user_is_added_once(api, organization, project):
    reader = member(organization)
    ProjectMemberFactory(project=project, user=reader)
    response = api.post(
        f"/projects/{project.public_id}/users",
        {"user_id": reader.public_id, "role": "owner"},
    )
    assert response.status_code == 409
    assert response.json() == error(
        "invalid_request_error",
        "conflict",
        f"{reader.public_id} is already a member of project {project.public_id}.",
        "user_id",
    )


def test_an_archived_project_takes_no_new_users(api, organization, project):
    api.post(f"/projects/{project.public_id}/archive")
    response = api.post(
        f"/projects/{project.public_id}/users",
        {"user_id": member(organization).public_id, "role": "member"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"Project {project.public_id} is archived."
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"role": "member"}, "user_id"),
        ({"user_id": "u" * 10_000, "role": "member"}, "user_id"),
        ({"user_id": "user_x", "role": "reader"}, "role"),
    ],
)
def test_project_user_input_is_validated(body, param, api, project):
    response = api.post(f"/projects/{project.public_id}/users", body)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_a_user_outside_the_project_is_not_found(method, api, organization, project):
    other_project = ProjectFactory(organization=organization)
    outsider = ProjectMemberFactory(project=other_project, role="owner").user
    path = f"/projects/{project.public_id}/users/{outsider.public_id}"
    response = (
        api.post(path, {"role": "member"})
        if method == "post"
        else getattr(api, method)(path)
    )
    assert response.status_code == 404
    assert response.json() == not_found("project user", outsider.public_id, "user_id")
    assert ProjectMember.objects.get(user=outsider).role == "owner"


@pytest.mark.parametrize("method", ["get", "post"])
def test_users_of_another_organizations_project_are_not_found(method, api):
    other = ProjectFactory()
    response = getattr(api, method)(f"/projects/{other.public_id}/users")
    assert response.json() == not_found("project", other.public_id, "project_id")


@pytest.mark.parametrize("rows", [1, 5])
def test_listing_project_users_takes_a_fixed_number_of_queries(
    rows, api, project, django_assert_num_queries
):
    for _ in range(rows):
        ProjectMemberFactory(project=project)
    base = f"/projects/{project.public_id}/users"
    api.get(base)
    with django_assert_num_queries(3):  # membership, project, page
        assert len(api.get(base).json()["data"]) == rows
