"""The tools a caller may use, and calling them: the one interface of the tools app.

    toolbox = await toolbox_for(principal)          # built-in + registered servers' tools
    toolbox.tools                                   # name -> Tool (MCP definition)
    result = await toolbox.call("google_search", {"q": "…"}, request_id=…, channel=…)

Used by the MCP endpoint (tools/endpoint.py) and by in-process callers such as a
Responses run. Names: the built-in `google_search` and `scrape`, and
`<label>__<tool>` for a registered server's tools (a label that two of a login user's
organizations share gets the server's id appended), so names never collide. A call
never raises for what a tool or its server did: the result says it (`is_error`, an
outcome); only an unknown name raises UnknownTool. Every call leaves a ledger record
and metrics, cancelled ones included.
"""

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import mcp_types
from django.conf import settings

from janserver import db
from janserver.principal import Principal
from tools import builtin, ledger, remote, serper, services
from tools.models import ServerStatus, ToolOutcome
from tools.remote import Target
from tools.results import ToolFailure, ToolResult, error_result
from tools.selectors import mcp_server_targets_usable

logger = logging.getLogger("janserver.tools")

BUILTIN_LABEL = "builtin"
SEPARATOR = "__"
# A registered server's tool list is asked for within this long (tools/list on /v1/mcp
# waits for it); a failure is remembered for FAILURE_TTL_SECONDS.
LIST_TIMEOUT_SECONDS = 10.0
FAILURE_TTL_SECONDS = 5.0
UNAVAILABLE_PREFIX = "[Unavailable on this server: {reason}] "


class UnknownTool(LookupError):
    """No tool of this name for this caller."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown tool: {name}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool as a caller sees it, and where it runs."""

    name: str
    description: str
    input_schema: dict[str, Any]
    server_label: str  # BUILTIN_LABEL or a registered server's label
    remote_name: str  # its name on its server
    server: Target | None = None  # None for the built-in tools
    available: bool = True
    unavailable_reason: str | None = None
    annotations: dict[str, Any] | None = None

    def as_mcp(self) -> mcp_types.Tool:
        """The tool's MCP definition (what tools/list shows)."""
        description = self.description
        if not self.available:
            description = (
                UNAVAILABLE_PREFIX.format(reason=self.unavailable_reason) + description
            )
        return mcp_types.Tool(
            name=self.name,
            description=description,
            input_schema=self.input_schema,
            annotations=mcp_types.ToolAnnotations.model_validate(self.annotations)
            if self.annotations
            else None,
            _meta={
                "janserver/server": self.server_label,
                "janserver/available": self.available,
            },
        )


@dataclass(frozen=True, slots=True)
class ServerTools:
    """A registered server in a caller's toolbox: its tools, or why it has none now."""

    target: Target
    prefix: str
    tools: tuple[Tool, ...]
    up: bool
    detail: str = ""


@dataclass
class Toolbox:
    """The tools one caller may use now (see the module docstring)."""

    principal: Principal
    tools: dict[str, Tool]
    servers: list[ServerTools] = field(default_factory=list)

    def get(self, name: str) -> Tool:
        """Return the tool `name`; raise UnknownTool."""
        tool = self.tools.get(name)
        if tool is None:
            raise UnknownTool(name)
        return tool

    def server(self, label: str) -> ServerTools | None:
        """Return the caller's registered server with this label (or prefix), or None."""
        for server in self.servers:
            if label in (server.target.label, server.prefix):
                return server
        return None

    async def call(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        request_id: str = "",
        channel: str = "responses",
        time_limit: float | None = None,
    ) -> ToolResult:
        """Run the tool `name` with `arguments` within `time_limit` seconds (TOOL_CALL_TIMEOUT by
        default); return its result. Raises UnknownTool only. Cancelling the caller
        cancels the call (recorded as cancelled)."""
        tool = self.get(name)
        started = time.perf_counter()
        outcome = ToolOutcome.CANCELLED
        try:
            result = await _run(
                tool, arguments, time_limit or settings.TOOL_CALL_TIMEOUT_SECONDS
            )
            outcome = result.outcome
            return result
        finally:
            self._record(tool, outcome, started, request_id, channel)

    def _record(
        self, tool: Tool, outcome: str, started: float, request_id: str, channel: str
    ) -> None:
        server = tool.server
        ledger.record(
            ledger.ToolCallEntry(
                request_id=request_id,
                tool=tool.name,
                server_id=server.id if server else None,
                server_label=tool.server_label,
                channel=channel,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **ledger.caller_fields(
                    self.principal, server.organization_id if server else None
                ),
            )
        )


def arguments_problem(schema: dict[str, Any], arguments: Any) -> str | None:
    """Why `arguments` do not satisfy the tool's input schema, or None.

    A schema that is not valid JSON Schema (a registered server's) is not checked here:
    the server checks its own arguments.
    """
    if not isinstance(arguments, dict):
        return "The arguments must be a JSON object."
    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    error = jsonschema.exceptions.best_match(
        validator_class(schema).iter_errors(arguments)
    )
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"Invalid arguments{f' at {where!r}' if where else ''}: {error.message}"


async def _run(
    tool: Tool, arguments: dict[str, Any] | None, seconds: float
) -> ToolResult:
    if not tool.available:
        return error_result(
            f"The tool {tool.name} is unavailable: {tool.unavailable_reason}",
            ToolOutcome.UNAVAILABLE,
        )
    arguments = {} if arguments is None else arguments
    problem = arguments_problem(tool.input_schema, arguments)
    if problem is not None:
        return error_result(f"{tool.name}: {problem}", ToolOutcome.INVALID_ARGUMENTS)
    try:
        async with asyncio.timeout(seconds):
            if tool.server is None:
                return await builtin.BUILTINS[tool.remote_name].run(arguments, seconds)
            return await remote.tool_call(
                tool.server, tool.remote_name, arguments, seconds=seconds
            )
    except ToolFailure as failure:
        return failure.result()
    except TimeoutError:
        return error_result(
            f"The tool {tool.name} did not finish in time (within {seconds:g} s).",
            ToolOutcome.TIMEOUT,
        )


def builtin_tools() -> list[Tool]:
    """google_search and scrape, marked unavailable without a Serper key."""
    available = serper.configured()
    return [
        Tool(
            name=spec.name,
            description=spec.description,
            input_schema=spec.input_schema,
            server_label=BUILTIN_LABEL,
            remote_name=spec.name,
            available=available,
            unavailable_reason=None
            if available
            else "no Serper API key is configured (SERPER_API_KEY).",
            annotations={"readOnlyHint": True, "openWorldHint": True},
        )
        for spec in builtin.BUILTINS.values()
    ]


# Registered servers' tool lists: (public id, version) -> (expires at, tools or error).
_lists: dict[tuple[str, str], tuple[float, list[mcp_types.Tool] | ToolFailure]] = {}
_inflight: dict[
    tuple[str, str], "asyncio.Future[list[mcp_types.Tool] | ToolFailure]"
] = {}


async def _listed(target: Target) -> list[mcp_types.Tool] | ToolFailure:
    """The server's tools (cached MCP_SERVER_TOOLS_TTL), or why it cannot list them."""
    key = (target.public_id, target.version)
    cached = _lists.get(key)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    pending = _inflight.get(key)
    if pending is None:
        pending = _inflight[key] = asyncio.ensure_future(_list_now(target))
        pending.add_done_callback(lambda _: _inflight.pop(key, None))
    return await asyncio.shield(pending)


async def _list_now(target: Target) -> list[mcp_types.Tool] | ToolFailure:
    outcome: list[mcp_types.Tool] | ToolFailure
    if not target.readable:
        outcome = ToolFailure(
            "Its auth header cannot be decrypted (MODEL_PROVIDER_SECRET changed); set "
            "it again.",
            ToolOutcome.UNAVAILABLE,
        )
    else:
        try:
            outcome = await remote.tools_list(target, seconds=LIST_TIMEOUT_SECONDS)
        except ToolFailure as failure:
            outcome = failure
    ttl = (
        FAILURE_TTL_SECONDS
        if isinstance(outcome, ToolFailure)
        else settings.MCP_SERVER_TOOLS_TTL_SECONDS
    )
    _lists[(target.public_id, target.version)] = (time.monotonic() + ttl, outcome)
    await _status_record(target, outcome)
    return outcome


async def _status_record(
    target: Target, outcome: list[mcp_types.Tool] | ToolFailure
) -> None:
    up = not isinstance(outcome, ToolFailure)
    detail = "" if up else outcome.message  # type: ignore[union-attr]
    if up and target.status == ServerStatus.UP:
        return  # nothing changed (a server that stays down keeps its latest reason)
    try:
        await db.run_write(
            services.mcp_server_status_record,
            server_id=target.id,
            up=up,
            detail=detail,
        )
    except Exception:
        logger.exception("Could not record an MCP server's status")


def _prefixes(targets: Sequence[Target]) -> list[str]:
    """Each server's name prefix: its label, or label + id where labels repeat."""
    seen: set[str] = set()
    prefixes = []
    for target in targets:
        prefix = target.label
        if prefix in seen:
            prefix = f"{target.label}-{target.public_id.split('_', 1)[-1][:8]}"
        seen.add(prefix)
        prefixes.append(prefix)
    return prefixes


def _server_tools(target: Target, prefix: str, listed: Any) -> ServerTools:
    if isinstance(listed, ToolFailure):
        return ServerTools(target, prefix, (), up=False, detail=listed.message)
    allowed = None if target.allowed_tools is None else set(target.allowed_tools)
    tools = tuple(
        Tool(
            name=f"{prefix}{SEPARATOR}{tool.name}",
            description=tool.description or "",
            input_schema=dict(tool.input_schema),
            server_label=target.label,
            remote_name=tool.name,
            server=target,
            annotations=tool.annotations.model_dump(by_alias=True, exclude_none=True)
            if tool.annotations
            else None,
        )
        for tool in listed
        if allowed is None or tool.name in allowed
    )
    return ServerTools(target, prefix, tools, up=True)


async def toolbox_for(principal: Principal) -> Toolbox:
    """Return the tools `principal` may use now: the built-in ones, and the allowed
    tools of every registered server it may use that answers (asked concurrently, each
    within LIST_TIMEOUT_SECONDS; a server that is down is listed with why)."""
    targets = await db.run(mcp_server_targets_usable, principal=principal)
    listed = await asyncio.gather(*(_listed(target) for target in targets))
    servers = [
        _server_tools(target, prefix, result)
        for target, prefix, result in zip(
            targets, _prefixes(targets), listed, strict=True
        )
    ]
    tools = {tool.name: tool for tool in builtin_tools()}
    for server in servers:
        tools.update((tool.name, tool) for tool in server.tools)
    return Toolbox(principal=principal, tools=tools, servers=servers)


async def server_check(target: Target) -> ServerTools:
    """Ask the server for its tools now (not from the cache); record its status."""
    listed = await _list_now(target)
    return _server_tools(target, target.label, listed)


def reset_for_tests() -> None:
    """Forget the cached tool lists of registered servers."""
    _lists.clear()
    _inflight.clear()
