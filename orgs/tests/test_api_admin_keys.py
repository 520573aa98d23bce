"""Organization admin API: admin API keys and project API keys."""

import pytest
from django.utils import timezone

from orgs.models import ApiKey
from orgs.services import api_key_create, api_key_hash
from orgs.tests.factories import (
    OrganizationFactory,
    ProjectFactory,
)
from orgs.tests.test_api_base import Api, member, not_found, user_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


def ts(value):
    return None if value is None else int(value.timestamp())


def admin_key_body(api_key: ApiKey, role: str = "owner") -> dict:
    api_key.refresh_from_db()
    return {
        "object": "organization.admin_api_key",
        "id": api_key.public_id,
        "name": api_key.name,
        "redacted_value": api_key.hint,
        "created_at": ts(api_key.created_at),
        "expires_at": ts(api_key.expires_at),
        "last_used_at": ts(api_key.last_used_at),
        "owner": {
            "type": "user",
            "object": "organization.user",
            "id": api_key.owner.public_id,
            "name": api_key.owner.name,
            "created_at": ts(api_key.owner.date_joined),
            "role": role,
        },
    }


# Admin keys.


def test_create_an_admin_key_shows_its_secret_once(api, owner, organization):
    response = api.post("/admin_api_keys", {"name": "Deploy"})
    assert response.status_code == 200
    body = response.json()
    api_key = ApiKey.objects.get(public_id=body["id"])
    assert body == {**admin_key_body(api_key), "value": body["value"]}
    assert body["value"].startswith("sk-admin_")
    assert api_key.key_hash == api_key_hash(body["value"])
    assert (api_key.kind, api_key.owner, api_key.organization) == (
        "admin",
        owner,
        organization,
    )
    listed = api.get("/admin_api_keys").json()["data"]
    assert listed == [admin_key_body(api_key)]
    assert "value" not in api.get(f"/admin_api_keys/{api_key.public_id}").json()


def test_an_admin_key_may_expire(api):
    body = api.post(
        "/admin_api_keys", {"name": "Short", "expires_in_seconds": 60}
    ).json()
    assert body["expires_at"] == pytest.approx(timezone.now().timestamp() + 60, abs=5)


def test_a_key_created_by_an_admin_key_belongs_to_that_keys_owner(owner, organization):
    _, secret = api_key_create(kind="admin", organization=organization, owner=owner)
    body = Api(secret).post("/admin_api_keys", {"name": "Child"}).json()
    assert ApiKey.objects.get(public_id=body["id"]).owner == owner
    assert Api(body["value"]).get("/admin_api_keys").status_code == 200


def test_deleting_an_admin_key_revokes_it_at_once(api, owner, organization):
    api_key, secret = api_key_create(
        kind="admin", organization=organization, owner=owner
    )
    assert Api(secret).get("/projects").status_code == 200  # now cached
    response = api.delete(f"/admin_api_keys/{api_key.public_id}")
    assert response.json() == {
        "object": "organization.admin_api_key.deleted",
        "id": api_key.public_id,
        "deleted": True,
    }
    assert Api(secret).get("/projects").status_code == 401
    assert api.get(f"/admin_api_keys/{api_key.public_id}").status_code == 404
    assert api.delete(f"/admin_api_keys/{api_key.public_id}").status_code == 404
    assert api.get("/admin_api_keys").json()["data"] == []


def test_readers_may_read_admin_keys_without_secrets(organization, owner):
    api_key, _ = api_key_create(kind="admin", organization=organization, owner=owner)
    reader = user_api(member(organization), organization)
    assert reader.get("/admin_api_keys").json()["data"] == [admin_key_body(api_key)]


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("foreign", [True, False])
def test_another_organizations_admin_key_is_not_found(method, foreign, api):
    other_org = OrganizationFactory()
    other, _ = api_key_create(
        kind="admin", organization=other_org, owner=member(other_org, "owner")
    )
    public_id = other.public_id if foreign else "key_unknown"
    response = getattr(api, method)(f"/admin_api_keys/{public_id}")
    assert response.status_code == 404
    assert response.json() == not_found("admin API key", public_id, "key_id")
    other.refresh_from_db()
    assert other.revoked_at is None


def test_a_project_key_id_is_not_an_admin_key(api, organization, owner):
    project = ProjectFactory(organization=organization)
    project_key, _ = api_key_create(
        kind="project", organization=organization, project=project, owner=owner
    )
    response = api.get(f"/admin_api_keys/{project_key.public_id}")
    assert response.json() == not_found(
        "admin API key", project_key.public_id, "key_id"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": "n" * 10_000}, "name"),
        ({"name": "ok", "expires_in_seconds": 0}, "expires_in_seconds"),
        ({"name": "ok", "expires_in_seconds": "soon"}, "expires_in_seconds"),
    ],
)
def test_admin_key_input_is_validated(body, param, api):
    response = api.post("/admin_api_keys", body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("rows", [1, 5])
def test_listing_admin_keys_takes_a_fixed_number_of_queries(
    rows, api, organization, django_assert_num_queries
):
    for _ in range(rows):
        api_key_create(
            kind="admin", organization=organization, owner=member(organization, "owner")
        )
    api.get("/admin_api_keys")
    with django_assert_num_queries(2):
        assert len(api.get("/admin_api_keys").json()["data"]) == rows
