"""Organization admin API: who may call, on which organization, and the error contract.

Also holds the helpers the other test_api_* modules share.
"""

import json
from typing import Any

import httpx
import openai
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from orgs.models import Organization, Project
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db

BASE = "/v1/organization"


class Api:
    """A Django test client that speaks JSON to the admin API as one caller."""

    def __init__(self, credential: str, organization: str | None = None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {credential}"}
        if organization:
            self.headers["OpenAI-Organization"] = organization

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(BASE + path, params or {}, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            BASE + path,
            json.dumps({} if body is None else body),
            content_type="application/json",
            headers=self.headers,
        )

    def patch(self, path: str, body: Any = None) -> Any:
        return self.client.patch(
            BASE + path,
            json.dumps({} if body is None else body),
            content_type="application/json",
            headers=self.headers,
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(BASE + path, headers=self.headers)


def user_api(user: Any, organization: Organization | None = None) -> Api:
    """Call as a signed-in user, naming `organization` in OpenAI-Organization."""
    token = tokens_issue(user=user).access
    return Api(token, organization.public_id if organization else None)


def member(organization: Organization, role: str = "reader") -> Any:
    return OrganizationMemberFactory(organization=organization, role=role).user


def admin_key_api(organization: Organization, owner: Any = None) -> Api:
    owner = owner or member(organization, "owner")
    _, secret = api_key_create(kind="admin", organization=organization, owner=owner)
    return Api(secret)


def error(status_type: str, code: str, message: str, param: str | None = None):
    return {
        "error": {"message": message, "type": status_type, "param": param, "code": code}
    }


def not_found(kind: str, public_id: str, param: str) -> dict[str, Any]:
    return error(
        "invalid_request_error", "not_found", f"No {kind} with id {public_id!r}.", param
    )


FORBIDDEN_READER = error(
    "permission_error",
    "insufficient_permissions",
    "Only organization owners may change this; your role is 'reader'.",
)


# A request per admin route; {p} is a project id, {k} a key id, {u} a user id.
ROUTES = [
    ("get", "/admin_api_keys"),
    ("post", "/admin_api_keys"),
    ("get", "/admin_api_keys/key_x"),
    ("delete", "/admin_api_keys/key_x"),
    ("get", "/projects"),
    ("post", "/projects"),
    ("get", "/projects/{p}"),
    ("post", "/projects/{p}"),
    ("post", "/projects/{p}/archive"),
    ("get", "/projects/{p}/api_keys"),
    ("post", "/projects/{p}/api_keys"),
    ("get", "/projects/{p}/api_keys/key_x"),
    ("delete", "/projects/{p}/api_keys/key_x"),
    ("get", "/projects/{p}/users"),
    ("post", "/projects/{p}/users"),
    ("get", "/projects/{p}/users/{u}"),
    ("post", "/projects/{p}/users/{u}"),
    ("delete", "/projects/{p}/users/{u}"),
    ("get", "/users"),
    ("get", "/users/{u}"),
    ("post", "/users/{u}"),
    ("delete", "/users/{u}"),
    ("post", "/invites"),
    ("get", "/invites"),
    ("get", "/invites/invite_x"),
    ("delete", "/invites/invite_x"),
]
WRITES = [(method, path) for method, path in ROUTES if method != "get"]


def _call(api: Api, method: str, path: str, project: Any, user: Any) -> Any:
    path = path.format(p=project.public_id, u=user.public_id)
    return getattr(api, method)(path)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_project_keys_are_refused_on_every_admin_route(method, path, project_key):
    """A project key is a valid identity without admin rights: 403 everywhere."""
    api_key, secret = project_key
    response = _call(Api(secret), method, path, api_key.project, api_key.owner)
    assert response.status_code == 403
    assert response.json() == error(
        "permission_error",
        "insufficient_permissions",
        "Project API keys cannot use organization admin routes.",
    )


@pytest.mark.parametrize(("method", "path"), ROUTES[:6])
def test_admin_routes_need_a_credential(method, path, client):
    """Without a credential every route answers the one 401 body."""
    response = getattr(client, method)(BASE + path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_readers_cannot_write(method, path, project):
    """An organization reader gets 403 on every write, before anything is looked up.

    Project keys are the exception that proves it: a reader may write them as a
    member of the project, so a non-member hears about the project membership.
    """
    reader = member(project.organization)
    api = user_api(reader, project.organization)
    response = _call(api, method, path, project, reader)
    expected = FORBIDDEN_READER
    if "/api_keys" in path and path.startswith("/projects"):
        expected = error(
            "permission_error",
            "insufficient_permissions",
            f"You are not a member of project {project.public_id}; only its members "
            "and organization owners may create or revoke its API keys.",
        )
    assert (response.status_code, response.json()) == (403, expected)


def test_an_admin_key_acts_on_its_own_organization(organization):
    """Admin keys see their organization's projects only."""
    ProjectFactory(organization=organization, name="Mine")
    ProjectFactory(name="Theirs")
    response = admin_key_api(organization).get("/projects")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["data"]] == ["Mine"]


def test_an_admin_key_naming_another_organization_is_not_found(organization):
    """The header may name only the key's own organization."""
    other = OrganizationFactory()
    api = admin_key_api(organization)
    api.headers["OpenAI-Organization"] = other.public_id
    response = api.get("/projects")
    assert response.status_code == 404
    assert response.json() == error(
        "invalid_request_error",
        "not_found",
        f"No organization {other.public_id!r}.",
        "OpenAI-Organization",
    )
    api.headers["OpenAI-Organization"] = organization.public_id
    assert api.get("/projects").status_code == 200


def test_a_user_acts_on_the_default_organization_without_the_header(default_org):
    """Without OpenAI-Organization, a user's organization is the default one."""
    user = member(default_org, "owner")
    ProjectFactory(organization=default_org, name="Default one")
    ProjectFactory(name="Elsewhere")
    response = user_api(user).get("/projects")
    assert [p["name"] for p in response.json()["data"]] == ["Default one"]


def test_a_user_names_an_organization_in_the_header(default_org, organization):
    """OpenAI-Organization picks one of the user's organizations."""
    user = member(default_org, "reader")
    OrganizationMemberFactory(organization=organization, user=user, role="owner")
    ProjectFactory(organization=organization, name="Named")
    response = user_api(user, organization).post("/projects", {"name": "New"})
    assert response.status_code == 200
    listed = user_api(user, organization).get("/projects").json()["data"]
    assert [p["name"] for p in listed] == ["Named", "New"]


@pytest.mark.parametrize("foreign", [True, False])
def test_an_organization_of_others_answers_like_an_unknown_one(foreign, default_org):
    """A non-member naming an organization learns nothing about it."""
    user = member(default_org)
    org_id = (
        OrganizationFactory().public_id if foreign else "org_unknown000000000000000"
    )
    response = Api(tokens_issue(user=user).access, org_id).get("/projects")
    assert response.status_code == 404
    assert response.json() == error(
        "invalid_request_error",
        "not_found",
        f"No organization {org_id!r}.",
        "OpenAI-Organization",
    )


def test_a_user_outside_the_default_organization_must_name_one(default_org):
    """Without the header and without a default membership there is nothing to act on."""
    response = user_api(UserFactory()).get("/projects")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "You are not a member of the default organization; name your organization "
        "in the OpenAI-Organization header."
    )


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("text/plain", "name=x", 415, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", "name=x", 415, "unsupported_media_type"),
        ("application/json", "{not json", 400, "invalid_json"),
        ("application/json", '["a list"]', 400, "invalid_value"),
    ],
)
def test_bodies_must_be_json_objects(content_type, body, status, code, organization):
    api = admin_key_api(organization)
    response = api.client.post(
        BASE + "/projects", body, content_type=content_type, headers=api.headers
    )
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_an_unsupported_method_is_405(organization):
    response = admin_key_api(organization).client.put(
        BASE + "/projects", headers=admin_key_api(organization).headers
    )
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.fixture
def wsgi_client():
    """An httpx client calling the app in-process, inside the test's transaction.

    Like Django's test client, it keeps request signals from closing the connection
    (which would end the test transaction on PostgreSQL).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())) as client:
            yield client
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_the_openai_sdk_drives_the_admin_api(organization, wsgi_client):
    """The official SDK's admin client works unchanged (in-process over WSGI)."""
    owner = member(organization, "owner")
    _, secret = api_key_create(kind="admin", organization=organization, owner=owner)
    sdk = openai.OpenAI(
        api_key="unused",
        admin_api_key=secret,
        base_url="http://testserver/v1",
        http_client=wsgi_client,
    )
    organization_api = sdk.admin.organization
    created = organization_api.projects.create(name="From the SDK")
    assert organization_api.projects.retrieve(created.id).name == "From the SDK"
    assert [p.id for p in organization_api.projects.list()] == [created.id]
    key = organization_api.admin_api_keys.create(name="ci")
    assert key.value.startswith("sk-admin_")
    assert organization_api.admin_api_keys.delete(key.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        organization_api.projects.retrieve("proj_unknown")
    assert Project.objects.get(public_id=created.id).organization == organization
