"""The gateway's client to organizations' MCP servers: the official SDK's ClientSession
over streamable HTTP, one short session per operation.

Every operation is bounded: connections go only where the outbound policy lets an
organization's URL go (tools/outbound.py, Reach.TENANT), connect within
TOOL_CONNECT_TIMEOUT_SECONDS, everything within the caller's `seconds`, and no answer
may exceed TOOL_RESULT_MAX_BYTES. The URL and auth header come from the registered
server (a `Target`), never from a request. Failures raise ToolFailure with a message
that names the server's label, never its address or its own words beyond a tool error's
text.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx2
import mcp_types
from django.conf import settings
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from inference.egress import AddressRefused, Reach
from tools.models import ToolOutcome
from tools.outbound import PinnedTransport2
from tools.results import ToolFailure, ToolResult

T = TypeVar("T")
CLIENT_INFO = mcp_types.Implementation(name="janserver-gateway", version="1.0")


@dataclass(frozen=True, slots=True)
class Target:
    """A registered MCP server, as the gateway needs it (plain values)."""

    id: int
    organization_id: int
    public_id: str
    label: str
    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    # None: every tool the server lists; else only these (the server's own names).
    allowed_tools: tuple[str, ...] | None = None
    # Changes whenever the server's row does (a cached tool list is then stale).
    version: str = ""
    status: str = "unknown"
    # False when the stored auth header does not decrypt (the server is unusable).
    readable: bool = True


class _TooLarge(Exception):
    pass


class _CappedStream(httpx2.AsyncByteStream):
    """A response body that fails once it passes the cap (and tells its transport:
    the SDK reports the failure as a closed connection)."""

    def __init__(self, stream: Any, cap: int, transport: "_CappedTransport") -> None:
        self.stream, self.cap, self.size = stream, cap, 0
        self.transport = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            self.size += len(chunk)
            if self.size > self.cap:
                self.transport.overflowed = True
                raise _TooLarge()
            yield chunk

    async def aclose(self) -> None:
        await self.stream.aclose()


class _CappedTransport(PinnedTransport2):
    overflowed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        response.stream = _CappedStream(
            response.stream, settings.TOOL_RESULT_MAX_BYTES, self
        )
        return response


def _root_cause(error: BaseException) -> BaseException:
    """The first leaf of an exception group (the SDK's task groups wrap failures)."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _failure(target: Target, error: BaseException) -> ToolFailure:
    error = _root_cause(error)
    name = f"The MCP server {target.label!r}"
    if isinstance(error, ToolFailure):
        return error
    if isinstance(error, _TooLarge):
        cap = settings.TOOL_RESULT_MAX_BYTES
        return ToolFailure(
            f"{name} answered more than the {cap}-byte cap.", ToolOutcome.TOO_LARGE
        )
    if isinstance(error, TimeoutError | httpx2.TimeoutException):
        return ToolFailure(f"{name} did not answer in time.", ToolOutcome.TIMEOUT)
    if isinstance(error, AddressRefused):
        return ToolFailure(
            f"{name} is at an address this gateway may not reach.",
            ToolOutcome.UNAVAILABLE,
        )
    if isinstance(error, httpx2.HTTPStatusError):
        status = error.response.status_code
        return ToolFailure(f"{name} answered HTTP {status}.", ToolOutcome.UNAVAILABLE)
    if isinstance(error, httpx2.TransportError | ConnectionError | OSError):
        return ToolFailure(f"{name} cannot be reached.", ToolOutcome.UNAVAILABLE)
    return ToolFailure(
        f"{name} did not answer as an MCP server.", ToolOutcome.UNAVAILABLE
    )


async def _first(work: Awaitable[T], failed: asyncio.Event) -> T:
    """Await `work`, unless the transport reports a failure first."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(failed.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    raise ConnectionError("the transport failed")


async def _with_session(
    target: Target, seconds: float, operation: Callable[[ClientSession], Awaitable[T]]
) -> T:
    """Open a session on `target`, run `operation` on it, close it; within `seconds`."""
    transport_errors: list[Exception] = []
    failed = asyncio.Event()

    async def on_message(message: Any) -> None:
        # The SDK hands transport failures (an HTTP error, a body that is not
        # JSON-RPC) to the message handler; the request waiting on them would
        # otherwise wait until the deadline.
        if isinstance(message, Exception):
            transport_errors.append(message)
            failed.set()

    limits = httpx2.Timeout(seconds, connect=settings.TOOL_CONNECT_TIMEOUT_SECONDS)
    transport = _CappedTransport(Reach.TENANT)
    try:
        async with asyncio.timeout(seconds):
            async with (
                httpx2.AsyncClient(
                    transport=transport,
                    headers=target.headers,
                    timeout=limits,
                ) as http,
                streamable_http_client(target.url, http_client=http) as (read, write),
                ClientSession(
                    read, write, message_handler=on_message, client_info=CLIENT_INFO
                ) as session,
            ):
                await _first(session.initialize(), failed)
                return await _first(operation(session), failed)
    except Exception as error:
        if transport.overflowed:
            raise _failure(target, _TooLarge()) from None
        if isinstance(error, MCPError):
            raise
        raise _failure(
            target, transport_errors[0] if transport_errors else error
        ) from None


async def tools_list(target: Target, *, seconds: float) -> list[mcp_types.Tool]:
    """Return every tool `target` lists (following its pages); raise ToolFailure."""

    async def list_all(session: ClientSession) -> list[mcp_types.Tool]:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(100):  # a server that pages forever is cut off
            params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    try:
        return await _with_session(target, seconds, list_all)
    except MCPError:
        raise ToolFailure(
            f"The MCP server {target.label!r} refused to list its tools.",
            ToolOutcome.UNAVAILABLE,
        ) from None


async def tool_call(
    target: Target, name: str, arguments: dict[str, Any], *, seconds: float
) -> ToolResult:
    """Call the tool `name` (its name on `target`); return its result as a ToolResult.

    A tool error on the server is a result with is_error; a protocol error from the
    server (an unknown tool, refused arguments) too, with the server's message.
    """

    async def call(session: ClientSession) -> Any:
        return await session.call_tool(name, arguments)

    try:
        result = await _with_session(target, seconds, call)
    except MCPError as error:
        raise ToolFailure(
            f"The MCP server {target.label!r} refused the call: {error.error.message}",
            ToolOutcome.TOOL_ERROR,
        ) from None
    if not isinstance(result, mcp_types.CallToolResult):
        raise ToolFailure(
            f"The MCP server {target.label!r} did not answer the call with a result.",
            ToolOutcome.TOOL_ERROR,
        )
    return ToolResult(
        content=[
            block.model_dump(mode="json", by_alias=True, exclude_none=True)
            for block in result.content
        ],
        is_error=bool(result.is_error),
        outcome=ToolOutcome.TOOL_ERROR if result.is_error else ToolOutcome.OK,
        structured=result.structured_content,
    )
