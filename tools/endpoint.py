"""The MCP server behind /v1/mcp and /v1/conv/mcp: the official SDK's low-level Server
and its streamable HTTP session manager, serving each caller's toolbox.

The view (tools/api/views.py) authenticates the request and hands it to `handle()`
with the caller's Principal in the ASGI scope; the SDK does the protocol (JSON-RPC,
sessions, SSE, protocol versions, errors). One session manager per worker process,
started with the first request (or the ASGI lifespan startup) and stopped by the
lifespan shutdown. Sessions belong to the credential that opened them: another
credential presenting the session id gets 404, as for an unknown one.
"""

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import MutableMapping
from typing import Any

import mcp_types
from django.conf import settings
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError

from janserver.http.asgi_bridge import DISCONNECTED
from janserver.principal import Principal
from tools import registry
from tools.models import ToolOutcome
from tools.results import ToolResult, error_result

logger = logging.getLogger("janserver.tools")

PRINCIPAL = "janserver.principal"
INSTRUCTIONS = (
    "janserver's tools: google_search and scrape (web search and page reading), and "
    "the tools of your organization's registered MCP servers, named <label>__<tool>."
)
STOP_SECONDS = 10.0


def scope_for(scope: MutableMapping[str, Any], principal: Principal) -> dict[str, Any]:
    """The ASGI scope handed to the SDK: the caller's Principal, and the identity the
    SDK binds sessions to (a key's id, or a login user's)."""
    identity = (
        f"key:{principal.api_key_public_id}"
        if principal.api_key_public_id
        else f"user:{principal.user_public_id}"
    )
    token = AccessToken(token="", client_id=identity, scopes=[])
    return {**scope, PRINCIPAL: principal, "user": AuthenticatedUser(token)}


def _scope(ctx: ServerRequestContext[Any, Any]) -> MutableMapping[str, Any]:
    request = ctx.request
    scope = getattr(request, "scope", None)
    if not scope or PRINCIPAL not in scope:
        raise MCPError(mcp_types.INTERNAL_ERROR, "The request carries no caller.")
    return scope


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListToolsResult:
    toolbox = await registry.toolbox_for(_scope(ctx)[PRINCIPAL])
    down = [
        {"server": server.target.label, "status": "down", "detail": server.detail}
        for server in toolbox.servers
        if not server.up
    ]
    return mcp_types.ListToolsResult(
        tools=[tool.as_mcp() for tool in toolbox.tools.values()],
        _meta={"janserver/unavailable_servers": down} if down else None,
    )


async def _until_disconnected(scope: MutableMapping[str, Any]) -> None:
    event = scope.get(DISCONNECTED)
    if isinstance(event, asyncio.Event):
        await event.wait()
    else:
        await asyncio.Event().wait()


async def _call_tool(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
) -> mcp_types.CallToolResult:
    scope = _scope(ctx)
    toolbox = await registry.toolbox_for(scope[PRINCIPAL])
    if params.name not in toolbox.tools:
        raise MCPError(mcp_types.INVALID_PARAMS, f"Unknown tool: {params.name}")
    call = asyncio.ensure_future(
        toolbox.call(
            params.name,
            params.arguments,
            request_id=scope.get("request_id", ""),
            channel="mcp",
        )
    )
    gone = asyncio.ensure_future(_until_disconnected(scope))
    try:
        await asyncio.wait({call, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not call.done():
            # The client went away: abandon the call (it is recorded as cancelled).
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
    if call.cancelled():
        result: ToolResult = error_result(
            "The call was abandoned.", ToolOutcome.CANCELLED
        )
    else:
        result = call.result()
    return mcp_types.CallToolResult.model_validate(
        {
            "content": result.content,
            "isError": result.is_error,
            **({"structuredContent": result.structured} if result.structured else {}),
        }
    )


def build_server() -> Server[Any]:
    """The SDK Server with janserver's handlers."""
    return Server(
        "janserver",
        version="1.0",
        title="janserver tools",
        instructions=INSTRUCTIONS,
        on_list_tools=_list_tools,
        on_call_tool=_call_tool,
    )


class _Running:
    """A session manager running in one event loop (a task holds its task group)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.manager = StreamableHTTPSessionManager(
            app=build_server(),
            stateless=settings.MCP_STATELESS,
            session_idle_timeout=settings.MCP_SESSION_IDLE_TIMEOUT_SECONDS,
            max_sessions=settings.MCP_MAX_SESSIONS,
            max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            or 8 * 1024 * 1024,
        )
        self.started = asyncio.Event()
        self.stop = asyncio.Event()
        # A context of its own: sessions outlive the request that started the manager.
        self.task = self.loop.create_task(
            self._run(), name="mcp-session-manager", context=contextvars.Context()
        )

    async def _run(self) -> None:
        async with self.manager.run():
            self.started.set()
            await self.stop.wait()

    async def ready(self) -> StreamableHTTPSessionManager:
        waiter = asyncio.ensure_future(self.started.wait())
        try:
            await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not self.started.is_set():
            self.task.result()  # raises why it could not start
            raise RuntimeError("the MCP session manager stopped")
        return self.manager


_running: _Running | None = None


async def manager() -> StreamableHTTPSessionManager:
    """This loop's session manager, started now if needed."""
    global _running
    loop = asyncio.get_running_loop()
    if _running is None or _running.loop is not loop or _running.task.done():
        _running = _Running()
    return await _running.ready()


async def handle(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """Serve one request (an ASGI app, for janserver.http.asgi_bridge)."""
    await (await manager()).handle_request(scope, receive, send)


async def astart() -> None:
    """Start this process's session manager (ASGI lifespan startup)."""
    await manager()


async def astop() -> None:
    """Stop the session manager: end every session (ASGI lifespan shutdown)."""
    global _running
    running, _running = _running, None
    if running is None or running.loop is not asyncio.get_running_loop():
        return
    running.stop.set()
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await running.task
    except TimeoutError:
        running.task.cancel()
        logger.warning("MCP sessions did not end in time; cancelled")


def reset_for_tests() -> None:
    """Forget the session manager of an earlier test's event loop."""
    global _running
    if _running is not None and not _running.loop.is_closed():
        running = _running
        with contextlib.suppress(RuntimeError):
            running.loop.call_soon_threadsafe(running.stop.set)
    _running = None
