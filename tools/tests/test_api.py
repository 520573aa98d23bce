"""The organization API of MCP servers, the admin and the commands."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from inference.crypto import api_key_decrypt
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
)
from tools.models import McpServer
from tools.selectors import mcp_server_headers

pytestmark = pytest.mark.django_db

URL = "/v1/organization/mcp_servers"


@pytest.fixture
def owner_client(organization, admin_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")
    return client


def test_register_read_change_and_delete(owner_client, organization, project):
    created = owner_client.post(
        URL,
        {
            "label": "search",
            "url": "https://mcp.example.com/mcp",
            "description": "Our search.",
            "auth_header": "Bearer sekret-token-9876",
            "allowed_tools": ["find"],
            "projects": [project.public_id],
        },
        format="json",
    )
    assert created.status_code == 200, created.json()
    body = created.json()
    server = McpServer.objects.get(public_id=body["id"])
    assert body == {
        "id": server.public_id,
        "object": "organization.mcp_server",
        "label": "search",
        "description": "Our search.",
        "url": "https://mcp.example.com/mcp",
        "auth_header_name": "Authorization",
        "auth_header_hint": "…9876",
        "allowed_tools": ["find"],
        "all_projects": False,
        "projects": [project.public_id],
        "active": True,
        "status": "unknown",
        "status_detail": "",
        "checked_at": None,
        "created_at": body["created_at"],
    }
    assert "sekret" not in server.auth_header_encrypted
    assert api_key_decrypt(server.auth_header_encrypted, context=server.public_id) == (
        "Bearer sekret-token-9876"
    )
    assert mcp_server_headers(server) == {"Authorization": "Bearer sekret-token-9876"}

    listed = owner_client.get(URL).json()
    assert [item["id"] for item in listed["data"]] == [server.public_id]
    changed = owner_client.post(
        f"{URL}/{server.public_id}",
        {"allowed_tools": None, "all_projects": True, "auth_header": ""},
        format="json",
    ).json()
    assert (changed["allowed_tools"], changed["all_projects"]) == (None, True)
    assert changed["auth_header_hint"] is None
    deleted = owner_client.delete(f"{URL}/{server.public_id}")
    assert deleted.json() == {
        "object": "organization.mcp_server.deleted",
        "id": server.public_id,
        "deleted": True,
    }
    assert not McpServer.objects.exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"label": "Bad Label", "url": "https://x.example.com"}, "label"),
        ({"label": "a__b", "url": "https://x.example.com"}, "label"),
        ({"label": "builtin", "url": "https://x.example.com"}, "label"),
        ({"label": "ok", "url": "ftp://x.example.com"}, "url"),
        ({"label": "ok", "url": "http://user:pw@x.example.com"}, "url"),
        ({"label": "ok", "url": "http://169.254.169.254/"}, "url"),
        ({"label": "ok", "url": "http://10.0.0.1/mcp"}, "url"),
        (
            {"label": "ok", "url": "https://x.example.com", "projects": ["proj_nope"]},
            "projects",
        ),
        (
            {"label": "ok", "url": "https://x.example.com", "auth_header": "a\u00e9"},
            "auth_header",
        ),
    ],
)
def test_bad_registrations_are_refused(owner_client, body, param, settings):
    settings.EGRESS_ALLOWED_RANGES = []
    answer = owner_client.post(URL, body, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param
    assert not McpServer.objects.exists()


def test_labels_are_unique_per_organization(owner_client):
    body = {"label": "dup", "url": "https://x.example.com", "all_projects": True}
    assert owner_client.post(URL, body, format="json").status_code == 200
    again = owner_client.post(URL, body, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["param"] == "label"


def test_another_organizations_server_is_not_found(owner_client, user):
    other = OrganizationFactory()
    OrganizationMemberFactory(organization=other, user=user, role="owner")
    _, secret = api_key_create(kind="admin", organization=other, owner=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    server_id = client.post(
        URL, {"label": "theirs", "url": "https://x.example.com"}, format="json"
    ).json()["id"]
    for method in ("get", "post", "delete"):
        answer = getattr(owner_client, method)(f"{URL}/{server_id}", {}, format="json")
        assert answer.status_code == 404
        assert (
            answer.json()["error"]["message"] == f"No MCP server with id {server_id!r}."
        )
    assert owner_client.get(URL).json()["data"] == []


def test_project_keys_cannot_manage_servers(project_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {project_key[1]}")
    assert client.get(URL).status_code == 403


def test_the_list_is_one_page_of_queries(
    owner_client, organization, django_assert_num_queries
):
    for label in ("a", "b", "c"):
        owner_client.post(
            URL, {"label": label, "url": "https://x.example.com"}, format="json"
        )
    with django_assert_num_queries(3):
        assert len(owner_client.get(URL).json()["data"]) == 3


def test_commands(organization):
    project = ProjectFactory(organization=organization)
    out = StringIO()
    call_command(
        "addmcpserver",
        "cmd",
        "--org",
        organization.public_id,
        "--url",
        "https://mcp.example.com/",
        "--project",
        project.public_id,
        "--tool",
        "one",
        "--auth-header",
        "Bearer cmd-secret-5555",
        "--json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert (data["label"], data["projects"], data["allowed_tools"]) == (
        "cmd",
        [project.public_id],
        ["one"],
    )
    assert data["auth_header_hint"] == "…5555"
    assert "cmd-secret" not in out.getvalue()
    listed = StringIO()
    call_command("listmcpservers", "--org", organization.public_id, stdout=listed)
    assert data["id"] in listed.getvalue()
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "addmcpserver",
            "cmd",
            "--org",
            organization.public_id,
            "--url",
            "https://mcp.example.com/",
            "--all-projects",
        )
    call_command("removemcpserver", data["id"], stdout=StringIO())
    assert not McpServer.objects.exists()
    with pytest.raises(CommandError, match="No MCP server"):
        call_command("removemcpserver", data["id"])


def test_admin_registers_through_the_service(admin_client, organization):
    answer = admin_client.post(
        "/admin/tools/mcpserver/add/",
        {
            "organization": organization.pk,
            "label": "viaadmin",
            "description": "",
            "url": "https://mcp.example.com/",
            "auth_header": "Bearer admin-secret-7777",
            "auth_header_name": "",
            "allowed_tools_text": "a\nb",
            "all_projects": "on",
            "active": "on",
        },
    )
    assert answer.status_code == 302, answer.content[:2000]
    server = McpServer.objects.get(label="viaadmin")
    assert server.allowed_tools == ["a", "b"]
    assert server.auth_header_hint == "…7777"
    for page in (
        "/admin/tools/mcpserver/",
        f"/admin/tools/mcpserver/{server.pk}/change/",
        "/admin/tools/toolcall/",
    ):
        assert admin_client.get(page).status_code == 200
