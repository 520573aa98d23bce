"""Organizations' own MCP servers through /v1/mcp: a second MCP server (the SDK's) run
by the tests, registered through the organization API, seen only by the projects that
may use it."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from inference.testing.fake_vllm import refusing_url
from orgs.models import OrganizationMember
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory
from tools.models import McpServer, ToolCall
from tools.services import mcp_server_register
from tools.testing.fixtures import mcp_session
from tools.tests.test_mcp_endpoint import wait_for_calls

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


class Tenant:
    """An organization with an owner's admin key and two projects with a key each."""

    def __init__(self) -> None:
        member: Any = ProjectMemberFactory(project=ProjectFactory())
        self.project = member.project
        self.organization = self.project.organization
        self.owner = member.user
        OrganizationMember.objects.update_or_create(
            organization=self.organization, user=self.owner, defaults={"role": "owner"}
        )
        self.other_project = ProjectFactory(organization=self.organization)
        ProjectMemberFactory(project=self.other_project, user=self.owner)
        self.admin = api_key_create(
            kind="admin", organization=self.organization, owner=self.owner
        )[1]
        self.key = self.project_key(self.project)
        self.other_key = self.project_key(self.other_project)

    def project_key(self, project: Any) -> str:
        return api_key_create(
            kind="project",
            organization=self.organization,
            project=project,
            owner=self.owner,
        )[1]


@pytest.fixture
def tenant(django_db_serialized_rollback, transactional_db) -> Tenant:
    return Tenant()


def register(tenant: Tenant, url: str, label: str = "fake", **fields: Any) -> McpServer:
    return mcp_server_register(
        organization=tenant.organization,
        label=label,
        url=url,
        projects=fields.pop("projects", [tenant.project.public_id]),
        **fields,
    )


async def listed(gateway_url: str, secret: str) -> tuple[list[str], Any]:
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        result = await session.list_tools()
    return sorted(tool.name for tool in result.tools), result.meta


def test_registered_tools_appear_for_the_projects_that_may_use_them(
    gateway_url, tenant, mcp_server, serper
):
    """Registered through the organization API, with an auth header and allowed
    tools: the project sees `fake__…` tools next to the built-in ones and calls them
    (the header reaches the server); the organization's other project, and another
    organization, see none of them."""
    created = httpx.post(
        f"{gateway_url}/v1/organization/mcp_servers",
        json={
            "label": "fake",
            "url": mcp_server.url,
            "auth_header": "Bearer fake-mcp-secret-1234",
            "allowed_tools": ["echo", "add", "big", "slow"],
            "projects": [tenant.project.public_id],
        },
        headers={"Authorization": f"Bearer {tenant.admin}"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["auth_header_hint"] == "…1234"
    assert "fake-mcp-secret" not in created.text
    assert body["projects"] == [tenant.project.public_id]

    names, _ = asyncio.run(listed(gateway_url, tenant.key))
    assert names == [
        *("fake__add", "fake__big", "fake__echo", "fake__slow"),
        *("google_search", "scrape"),
    ]
    other_names, _ = asyncio.run(listed(gateway_url, tenant.other_key))
    assert other_names == ["google_search", "scrape"]
    stranger = Tenant()
    assert asyncio.run(listed(gateway_url, stranger.key))[0] == [
        "google_search",
        "scrape",
    ]

    async def calls() -> None:
        async with mcp_session(f"{gateway_url}/v1/mcp", tenant.key) as session:
            added = await session.call_tool("fake__add", {"a": 2, "b": 3})
            assert added.is_error is False
            assert added.content[0].text == "5"
            bad = await session.call_tool("fake__add", {"a": "two"})
            assert bad.is_error is True
            with pytest.raises(MCPError):
                await session.call_tool("fake__fail", {"message": "x"})

    asyncio.run(calls())
    sent = [h.get("authorization") for h in mcp_server.headers]
    assert "Bearer fake-mcp-secret-1234" in sent

    async def stranger_calls() -> None:
        async with mcp_session(f"{gateway_url}/v1/mcp", stranger.key) as session:
            with pytest.raises(MCPError) as raised:
                await session.call_tool("fake__echo", {"text": "hi"})
            assert raised.value.error.message == "Unknown tool: fake__echo"

    asyncio.run(stranger_calls())
    records = asyncio.run(wait_for_calls(2))
    assert records == [("ok", "fake__add"), ("invalid_arguments", "fake__add")]
    call = ToolCall.objects.order_by("created_at").first()
    assert (call.server.label, call.channel, call.project_id, call.organization_id) == (
        "fake",
        "mcp",
        tenant.project.pk,
        tenant.organization.pk,
    )


def test_a_server_that_is_down_never_breaks_the_built_in_tools(
    gateway_url, tenant, mcp_server, serper
):
    with refusing_url() as down_url:
        register(tenant, down_url.replace("/v1", "/mcp"), label="down")
        register(tenant, mcp_server.garbage_url, label="garbage")
        register(tenant, mcp_server.url, label="fake", allowed_tools=["echo"])
        names, meta = asyncio.run(listed(gateway_url, tenant.key))
    assert names == ["fake__echo", "google_search", "scrape"]
    assert sorted(
        (entry["server"], entry["detail"])
        for entry in meta["janserver/unavailable_servers"]
    ) == [
        ("down", "The MCP server 'down' cannot be reached."),
        ("garbage", "The MCP server 'garbage' did not answer as an MCP server."),
    ]
    statuses = dict(McpServer.objects.values_list("label", "status"))
    assert statuses == {"down": "down", "garbage": "down", "fake": "up"}


def test_results_over_the_cap_and_slow_tools_are_error_results(
    gateway_url, tenant, mcp_server, serper, settings
):
    settings.TOOL_RESULT_MAX_BYTES = 32 * 1024
    settings.TOOL_CALL_TIMEOUT_SECONDS = 1.0
    register(tenant, mcp_server.url)

    async def calls() -> list[Any]:
        async with mcp_session(f"{gateway_url}/v1/mcp", tenant.key) as session:
            return [
                await session.call_tool("fake__big", {"size": 100_000}),
                await session.call_tool("fake__slow", {"seconds": 3}),
                await session.call_tool("fake__big", {"size": 10}),
            ]

    big, slow, small = asyncio.run(calls())
    assert big.is_error is True
    assert (
        big.content[0].text
        == "The MCP server 'fake' answered more than the 32768-byte cap."
    )
    assert slow.is_error is True
    assert "in time" in slow.content[0].text
    assert small.content[0].text == "x" * 10
    outcomes = asyncio.run(wait_for_calls(3))
    assert [outcome for outcome, _ in outcomes] == ["too_large", "timeout", "ok"]


def test_a_client_that_goes_away_abandons_its_call(
    gateway_url, tenant, mcp_server, serper
):
    """The connection closes during a slow tool call: the call is cancelled (and
    recorded so), nothing waits for the tool to finish."""
    register(tenant, mcp_server.url)
    headers = {
        "Authorization": f"Bearer {tenant.key}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    url = f"{gateway_url}/v1/mcp"
    opened = httpx.post(
        url,
        headers=headers,
        timeout=30,
        content=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
        ),
    )
    headers["Mcp-Session-Id"] = opened.headers["mcp-session-id"]
    httpx.post(
        url,
        headers=headers,
        timeout=30,
        content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "fake__slow", "arguments": {"seconds": 20}},
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            url,
            headers=headers,
            timeout=httpx.Timeout(30, read=1.5),
            content=json.dumps(call),
        )
    assert asyncio.run(wait_for_calls(1)) == [("cancelled", "fake__slow")]


def test_the_outbound_policy_applies_to_registered_servers(
    gateway_url, tenant, mcp_server, serper, settings
):
    """A URL at a forbidden address is refused at registration; a host name that
    resolves to one is refused when connecting (the server shows as down)."""
    owner = {"Authorization": f"Bearer {tenant.admin}"}
    metadata = httpx.post(
        f"{gateway_url}/v1/organization/mcp_servers",
        json={
            "label": "meta",
            "url": "http://169.254.169.254/mcp",
            "all_projects": True,
        },
        headers=owner,
        timeout=30,
    )
    assert metadata.status_code == 400
    assert metadata.json()["error"]["param"] == "url"
    settings.EGRESS_ALLOWED_RANGES = []
    loopback = httpx.post(
        f"{gateway_url}/v1/organization/mcp_servers",
        json={"label": "loop", "url": mcp_server.url, "all_projects": True},
        headers=owner,
        timeout=30,
    )
    assert loopback.status_code == 400
    port = mcp_server.base_url.rsplit(":", 1)[1]
    register(tenant, f"http://localhost:{port}/mcp/", label="named")
    names, meta = asyncio.run(listed(gateway_url, tenant.key))
    assert names == ["google_search", "scrape"]
    assert meta["janserver/unavailable_servers"] == [
        {
            "server": "named",
            "status": "down",
            "detail": "The MCP server 'named' is at an address this gateway may not reach.",
        }
    ]
