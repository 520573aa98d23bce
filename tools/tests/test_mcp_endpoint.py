"""/v1/mcp end to end: the official MCP SDK client against a real server, the fake
Serper behind google_search and scrape, and the transport's bad input."""

import json
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory
from tools.models import ToolCall
from tools.testing.fixtures import mcp_session

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


def project_key(kind: str = "project") -> tuple[Any, str]:
    member: Any = ProjectMemberFactory(project=ProjectFactory())
    project = member.project
    if kind == "admin":
        member.project.organization.members.add(
            member.user, through_defaults={"role": "owner"}
        )
        return member, api_key_create(
            kind="admin", organization=project.organization, owner=member.user
        )[1]
    _, secret = api_key_create(
        kind="project",
        organization=project.organization,
        project=project,
        owner=member.user,
    )
    return member, secret


@pytest.fixture
def secret(django_db_serialized_rollback, transactional_db) -> str:
    return project_key()[1]


def rpc(method: str, params: dict | None = None, id: int = 2) -> dict:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params or {}}


def events(response: httpx.Response) -> list[dict]:
    """The JSON-RPC messages of an SSE (or JSON) answer."""
    if response.headers["content-type"].startswith("application/json"):
        return [response.json()]
    return [
        json.loads(line[5:])
        for line in response.text.splitlines()
        if line.startswith("data:") and line[5:].strip()
    ]


class Raw:
    """Plain HTTP against /v1/mcp, to see the transport's answers."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = f"{url}/v1/mcp"
        self.headers = {"Authorization": f"Bearer {secret}", **ACCEPT}
        self.session_id: str | None = None

    def post(self, body: Any, **headers: str) -> httpx.Response:
        sent = {**self.headers, **headers}
        if self.session_id and "Mcp-Session-Id" not in headers:
            sent["Mcp-Session-Id"] = self.session_id
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            self.url,
            content=data,
            headers={**sent, "Content-Type": "application/json"},
            timeout=30,
        )

    def open(self) -> httpx.Response:
        response = self.post(INITIALIZE)
        assert response.status_code == 200
        self.session_id = response.headers.get("mcp-session-id")
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return response


async def test_the_sdk_client_lists_and_calls_both_tools(gateway_url, secret, serper):
    """google_search and scrape are listed with Jan's parameters and full descriptions,
    and run on Serper with every parameter the caller gave and the server's key."""
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        listed = await session.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert sorted(tools) == ["google_search", "scrape"]
        search = tools["google_search"]
        assert set(search.input_schema["properties"]) == {
            *("q", "gl", "hl", "location", "num", "tbs", "page", "autocorrect"),
        }
        assert search.input_schema["required"] == ["q"]
        assert "qdr:h past hour, qdr:d past day" in search.description
        assert set(tools["scrape"].input_schema["properties"]) == {
            "url",
            "includeMarkdown",
        }

        arguments = {"q": "jan server", "gl": "sg", "hl": "en", "location": "SG"}
        arguments |= {"num": 3, "tbs": "qdr:w", "page": 2, "autocorrect": False}
        result = await session.call_tool("google_search", arguments)
        assert result.is_error is False
        answer = json.loads(result.content[0].text)
        assert [item["position"] for item in answer["organic"]] == [4, 5, 6]
        assert answer["searchParameters"]["tbs"] == "qdr:w"

        scraped = await session.call_tool(
            "scrape", {"url": "https://example.com/a", "includeMarkdown": True}
        )
        page = json.loads(scraped.content[0].text)
        assert page["markdown"].startswith("# Page at https://example.com/a")

    sent = [request["body"] for request in serper.requests]
    assert sent == [
        arguments,
        {"url": "https://example.com/a", "includeMarkdown": True},
    ]
    assert {r["headers"]["x-api-key"] for r in serper.requests} == {serper.api_key}


async def test_the_sdk_client_may_send_its_key_in_x_api_key(
    gateway_url, secret, serper
):
    """A project key in X-API-Key (as Jan's clients send it) opens the MCP session."""
    async with mcp_session(
        f"{gateway_url}/v1/mcp", secret, api_key_header=True
    ) as session:
        listed = await session.list_tools()
        assert sorted(tool.name for tool in listed.tools) == ["google_search", "scrape"]
        result = await session.call_tool("google_search", {"q": "x"})
        assert result.is_error is False


async def test_conv_mcp_is_the_same_server(gateway_url, secret, serper):
    async with mcp_session(f"{gateway_url}/v1/conv/mcp", secret) as session:
        result = await session.call_tool("google_search", {"q": "x"})
        assert json.loads(result.content[0].text)["searchParameters"]["num"] == 10


async def test_schema_violations_are_tool_errors_and_the_session_lives_on(
    gateway_url, secret, serper
):
    """Arguments that break the schema come back as an error result naming the
    problem (MCP's input validation errors), Serper is not asked, the session works."""
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        for arguments, needle in [
            ({}, "'q' is a required property"),
            ({"q": "x", "num": 0}, "at 'num'"),
            ({"q": "x", "tbs": 5}, "at 'tbs'"),
            ({"q": "x", "colour": "red"}, "'colour' was unexpected"),
        ]:
            result = await session.call_tool("google_search", arguments)
            assert result.is_error is True
            assert needle in result.content[0].text
        bad_url = await session.call_tool("scrape", {"url": "ftp://example.com"})
        assert bad_url.is_error is True
        assert serper.requests == []
        ok = await session.call_tool("scrape", {"url": "http://example.com"})
        assert ok.is_error is False


async def test_an_unknown_tool_is_a_json_rpc_error(gateway_url, secret, serper):
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        with pytest.raises(MCPError) as raised:
            await session.call_tool("no_such_tool", {})
        assert raised.value.error.code == -32602
        assert raised.value.error.message == "Unknown tool: no_such_tool"


@pytest.mark.parametrize(
    ("mode", "status", "outcome", "needle"),
    [
        ("status", 429, "tool_error", "rate limit"),
        ("status", 500, "tool_error", "Serper failed (HTTP 500)"),
        ("status", 403, "tool_error", "refused this server's API key"),
        ("garbage", 200, "tool_error", "not JSON"),
        ("huge", 200, "too_large", "cap"),
        ("slow", 200, "timeout", "in time"),
    ],
)
async def test_serper_faults_become_error_results(
    gateway_url, secret, serper, settings, mode, status, outcome, needle
):
    """Serper down, slow, limited or answering garbage: a clear error result, the
    session survives, and the call is recorded with its outcome."""
    settings.TOOL_CALL_TIMEOUT_SECONDS = 1.0
    settings.TOOL_RESULT_MAX_BYTES = 64 * 1024
    serper.mode, serper.status, serper.delay = mode, status, 3.0
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        result = await session.call_tool("google_search", {"q": "x"})
        assert result.is_error is True
        assert needle in result.content[0].text
        assert serper.api_key not in result.content[0].text
        serper.mode = "ok"
        again = await session.call_tool("google_search", {"q": "x"})
        assert again.is_error is False
    assert await wait_for_calls(2) == [
        (outcome, "google_search"),
        ("ok", "google_search"),
    ]


async def test_serper_unreachable(gateway_url, secret, serper, settings):
    settings.SERPER_SEARCH_URL = "http://127.0.0.1:9/search"
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        result = await session.call_tool("google_search", {"q": "x"})
    assert result.is_error is True
    assert result.content[0].text == "Serper cannot be reached; try again later."


async def test_without_a_key_the_tools_say_they_are_unavailable(
    gateway_url, secret, serper, settings
):
    settings.SERPER_API_KEY = ""
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        listed = await session.list_tools()
        for tool in listed.tools:
            assert tool.description.startswith(
                "[Unavailable on this server: no Serper API key is configured"
            )
            assert tool.meta["janserver/available"] is False
        result = await session.call_tool("google_search", {"q": "x"})
        assert result.is_error is True
        assert "unavailable" in result.content[0].text
    assert serper.requests == []


async def wait_for_calls(count: int) -> list[tuple[str, str]]:
    """The ledger's (outcome, tool) rows, once `count` are written (bounded wait)."""
    import asyncio

    from janserver import db

    def rows() -> list[tuple[str, str]]:
        return list(
            ToolCall.objects.order_by("created_at", "pk").values_list("outcome", "tool")
        )

    for _ in range(200):
        found = await db.run(rows)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    return await db.run(rows)


def test_authentication_comes_before_any_mcp_processing(
    gateway_url, transactional_db, django_db_serialized_rollback
):
    """No credential, a bad one, or an admin key: an OpenAI-style error before the
    MCP server sees the request (no session is opened)."""
    url = f"{gateway_url}/v1/mcp"
    body = json.dumps(INITIALIZE)
    headers = {**ACCEPT, "Content-Type": "application/json"}
    missing = httpx.post(url, content=body, headers=headers, timeout=30)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    assert "mcp-session-id" not in missing.headers
    bad = httpx.post(
        url,
        content=body,
        headers={**headers, "Authorization": "Bearer sk-project_nope"},
        timeout=30,
    )
    assert bad.status_code == 401
    unknown_key = httpx.post(
        url, content=body, headers={**headers, "X-API-Key": "sk-project_nope"}
    )
    assert unknown_key.status_code == 401
    assert unknown_key.json()["error"]["code"] == "invalid_api_key"
    _, admin_secret = project_key("admin")
    admin = httpx.post(
        url,
        content=body,
        headers={**headers, "Authorization": f"Bearer {admin_secret}"},
        timeout=30,
    )
    assert admin.status_code == 403


def test_sessions(gateway_url, secret):
    """initialize opens a session (Mcp-Session-Id); requests without it or with an
    unknown one are refused; another credential cannot use it; DELETE ends it."""
    raw = Raw(gateway_url, secret)
    opened = raw.open()
    assert raw.session_id
    assert events(opened)[0]["result"]["serverInfo"]["name"] == "janserver"
    listed = raw.post(rpc("tools/list"))
    assert listed.status_code == 200
    assert [t["name"] for t in events(listed)[0]["result"]["tools"]] == [
        "google_search",
        "scrape",
    ]

    missing = raw.post(rpc("tools/list"), **{"Mcp-Session-Id": ""})
    assert missing.status_code in (400, 404)
    unknown = raw.post(rpc("tools/list"), **{"Mcp-Session-Id": "f" * 32})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "Session not found"

    other = Raw(gateway_url, project_key()[1])
    other.session_id = raw.session_id
    assert other.post(rpc("tools/list")).status_code == 404

    ended = httpx.delete(
        raw.url, headers={**raw.headers, "Mcp-Session-Id": raw.session_id}, timeout=30
    )
    assert ended.status_code == 200
    assert raw.post(rpc("tools/list")).status_code == 404


def test_bad_json_rpc(gateway_url, secret):
    """Invalid JSON, a batch, an unknown method and bad params each get a JSON-RPC
    error, never an empty 200."""
    raw = Raw(gateway_url, secret)
    raw.open()
    not_json = raw.post(b"{not json")
    assert not_json.status_code == 400
    assert not_json.json()["error"]["code"] == -32700
    batch = raw.post([rpc("tools/list", id=5), rpc("tools/list", id=6)])
    assert batch.status_code == 400
    assert batch.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": "Invalid Request: JSON-RPC batches are not supported; send "
            "one message per request.",
        },
    }
    not_rpc = raw.post({"hello": "world"})
    assert not_rpc.status_code == 400
    unknown = events(raw.post(rpc("no/such_method", id=7)))[0]
    assert (unknown["id"], unknown["error"]["code"]) == (7, -32601)
    no_name = events(raw.post(rpc("tools/call", {"arguments": {}}, id=8)))[0]
    assert no_name["error"]["code"] == -32602
    wrong_accept = raw.post(rpc("tools/list"), Accept="text/plain")
    assert wrong_accept.status_code == 406
    put = httpx.put(raw.url, headers=raw.headers, timeout=30)
    assert put.status_code == 405
    assert put.json()["jsonrpc"] == "2.0"
    assert put.json()["error"]["code"] < 0


def test_cors_exposes_the_session_id(gateway_url, secret, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    origin = {"Origin": "https://app.example.com"}
    preflight = httpx.options(
        f"{gateway_url}/v1/mcp",
        headers={
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, mcp-session-id, mcp-protocol-version",
        },
        timeout=30,
    )
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "mcp-session-id" in allowed
    assert "mcp-protocol-version" in allowed
    raw = Raw(gateway_url, secret)
    opened = raw.post(INITIALIZE, **origin)
    assert "mcp-session-id" in opened.headers["access-control-expose-headers"].lower()


@pytest.fixture
def stateless(settings):
    """The endpoint's session manager restarted with MCP_STATELESS (as under gunicorn
    with several workers, and in the Helm chart)."""
    from tools import endpoint

    settings.MCP_STATELESS = True
    endpoint.reset_for_tests()
    yield
    settings.MCP_STATELESS = False
    endpoint.reset_for_tests()


async def test_stateless_mode_serves_every_request_on_its_own(
    gateway_url, secret, serper, stateless
):
    async with mcp_session(f"{gateway_url}/v1/mcp", secret) as session:
        listed = await session.list_tools()
        assert sorted(tool.name for tool in listed.tools) == ["google_search", "scrape"]
        result = await session.call_tool("google_search", {"q": "stateless"})
        assert result.is_error is False
    raw = Raw(gateway_url, secret)
    opened = raw.post(INITIALIZE)
    assert opened.status_code == 200
    assert "mcp-session-id" not in opened.headers
    assert events(raw.post(rpc("tools/list")))[0]["result"]["tools"][0]["name"] == (
        "google_search"
    )
