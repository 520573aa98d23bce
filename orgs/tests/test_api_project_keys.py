"""Organization admin API: project API keys (Jan-shaped create, OpenAI-shaped reads)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from orgs.models import ApiKey
from orgs.services import api_key_create, api_key_verify
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory
from orgs.tests.test_api_admin_keys import ts
from orgs.tests.test_api_base import error, member, not_found, user_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


def project_key_body(api_key: ApiKey, role: str | None = "owner") -> dict:
    api_key.refresh_from_db()
    user = api_key.owner
    return {
        "object": "organization.project.api_key",
        "id": api_key.public_id,
        "name": api_key.name or api_key.description,
        "description": api_key.description,
        "redacted_value": api_key.hint,
        "created_at": ts(api_key.created_at),
        "expires_at": ts(api_key.expires_at),
        "last_used_at": ts(api_key.last_used_at),
        "owner": {
            "type": "user",
            "user": {
                "object": "organization.project.user",
                "id": user.public_id,
                "name": user.name,
                "email": user.email,
                "role": role,
                "created_at": ts(user.date_joined),
            },
        },
        "owner_project_access": "active" if role else "inactive",
    }


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


@pytest.mark.parametrize(
    "expires",
    [
        None,
        "2099-01-02T03:04:05Z",
        "2099-01-02T05:04:05+02:00",
        4071006245,
        "4071006245",
    ],
)
def test_create_a_project_key_in_jans_shape(expires, api, project):
    body = {"description": "CI runner"}
    if expires is not None:
        body["expiresAt"] = expires
    response = api.post(f"/projects/{project.public_id}/api_keys", body)
    assert response.status_code == 200
    result = response.json()["result"]
    api_key = ApiKey.objects.get(public_id=result["id"])
    assert response.json() == {
        "status": "000000",
        "result": {**project_key_body(api_key), "key": result["key"]},
    }
    assert api_key_verify(secret=result["key"]) == api_key
    expected = None if expires is None else datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert api_key.expires_at == expected
    assert (api_key.project, api_key.description) == (project, "CI runner")


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("2001-01-01T00:00:00Z", "The time must be in the future."),
        (946684800, "The time must be in the future."),
        (
            "2099-01-02T03:04:05",
            "Give unix seconds or an RFC 3339 timestamp with a time zone.",
        ),
        ("tomorrow", "Give unix seconds or an RFC 3339 timestamp with a time zone."),
        (True, "Give unix seconds or an RFC 3339 timestamp with a time zone."),
        (10**20, "Give unix seconds or an RFC 3339 timestamp with a time zone."),
        ({"at": 1}, "Give unix seconds or an RFC 3339 timestamp with a time zone."),
    ],
)
def test_a_project_key_expiry_must_be_a_future_instant(expires, message, api, project):
    response = api.post(
        f"/projects/{project.public_id}/api_keys", {"expiresAt": expires}
    )
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error", "invalid_value", message, "expiresAt"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"description": "d" * 501}, "description"),
        ({"description": "d" * 10_000}, "description"),
        ({"name": "n" * 201}, "name"),
        ({"description": ["x"]}, "description"),
    ],
)
def test_project_key_text_is_bounded(body, param, api, project):
    response = api.post(f"/projects/{project.public_id}/api_keys", body)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


def test_an_archived_project_gets_no_new_keys(api, project):
    api.post(f"/projects/{project.public_id}/archive")
    response = api.post(f"/projects/{project.public_id}/api_keys", {})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "The project is archived."


def test_project_keys_list_get_and_delete(api, owner, project):
    api_key, secret = api_key_create(
        kind="project",
        organization=project.organization,
        project=project,
        owner=owner,
        description="Old",
    )
    base = f"/projects/{project.public_id}/api_keys"
    assert api.get(base).json()["data"] == [project_key_body(api_key)]
    assert api.get(f"{base}/{api_key.public_id}").json() == project_key_body(api_key)
    assert api_key_verify(secret=secret) == api_key
    response = api.delete(f"{base}/{api_key.public_id}")
    assert response.json() == {
        "object": "organization.project.api_key.deleted",
        "id": api_key.public_id,
        "deleted": True,
    }
    assert api.get(base).json()["data"] == []
    assert api.get(f"{base}/{api_key.public_id}").status_code == 404


def test_a_project_member_manages_their_own_keys_only(organization, owner, project):
    """A reader who belongs to the project creates and revokes their keys, not others'."""
    reader = member(organization)
    ProjectMemberFactory(project=project, user=reader, role="member")
    theirs, _ = api_key_create(
        kind="project", organization=organization, project=project, owner=owner
    )
    api = user_api(reader, organization)
    base = f"/projects/{project.public_id}/api_keys"
    created = api.post(base, {"description": "mine"}).json()["result"]
    mine = ApiKey.objects.get(public_id=created["id"])
    assert created == {**project_key_body(mine, role="member"), "key": created["key"]}
    assert api.delete(f"{base}/{theirs.public_id}").json() == error(
        "permission_error",
        "insufficient_permissions",
        "Only the key's owner and organization owners may revoke it.",
    )
    assert api.delete(f"{base}/{mine.public_id}").json()["deleted"] is True
    assert {k["id"] for k in api.get(base).json()["data"]} == {theirs.public_id}


def test_an_org_owner_outside_the_project_owns_its_keys_in_effect(api, owner, project):
    created = api.post(f"/projects/{project.public_id}/api_keys", {}).json()["result"]
    assert created["owner"]["user"]["role"] == "owner"
    assert created["owner_project_access"] == "active"


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("foreign", ["organization", "project", None])
def test_another_projects_key_is_not_found(method, foreign, api, owner, project):
    """A key of another project (here or elsewhere) answers like an unknown id."""
    other_project = (
        ProjectFactory(organization=project.organization)
        if foreign == "project"
        else ProjectFactory()
    )
    other_owner = member(other_project.organization, "owner")
    other, _ = api_key_create(
        kind="project",
        organization=other_project.organization,
        project=other_project,
        owner=other_owner,
    )
    public_id = other.public_id if foreign else "key_unknown"
    response = getattr(api, method)(
        f"/projects/{project.public_id}/api_keys/{public_id}"
    )
    assert response.status_code == 404
    assert response.json() == not_found("project API key", public_id, "key_id")


@pytest.mark.parametrize("method", ["get", "post"])
def test_keys_of_another_organizations_project_are_not_found(method, api):
    other = ProjectFactory()
    response = getattr(api, method)(f"/projects/{other.public_id}/api_keys")
    assert response.status_code == 404
    assert response.json() == not_found("project", other.public_id, "project_id")


@pytest.mark.parametrize("rows", [1, 5])
def test_listing_project_keys_takes_a_fixed_number_of_queries(
    rows, api, project, django_assert_num_queries
):
    for _ in range(rows):
        user = member(project.organization)
        ProjectMemberFactory(project=project, user=user)
        api_key_create(
            kind="project",
            organization=project.organization,
            project=project,
            owner=user,
            expires_at=timezone.now() + timedelta(days=1),
        )
    base = f"/projects/{project.public_id}/api_keys"
    api.get(base)
    with django_assert_num_queries(3):  # membership, project, page
        data = api.get(base).json()["data"]
    assert len(data) == rows
    assert {k["owner"]["user"]["role"] for k in data} == {"member"}
