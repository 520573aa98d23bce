"""Which of a response's tools run on the server, and what the model is offered for them.

A request's tools (options.tools_clean) resolve against the caller's toolbox
(tools.registry): `web_search` offers the built-in `google_search` and `scrape`; an
`mcp` tool offers the allowed tools of the registered server its `server_label`
names (a server the caller may not use is unknown: 400, never a leak); a function
tool whose name is a server tool (Jan's `google_search`) runs on the server too. Any
other function tool is the client's. Server calls show as `web_search_call` items
(the built-in tools) or `mcp_call` items (a registered server's).
"""

from dataclasses import dataclass, field
from typing import Any

from janserver.errors import InvalidRequest
from janserver.principal import Principal
from tools import registry

WEB_SEARCH_CALL = "web_search_call"
MCP_CALL = "mcp_call"
SEARCH_TOOL = "google_search"
OPEN_PAGE_TOOL = "scrape"


@dataclass(frozen=True, slots=True)
class ServerTool:
    """A tool the gateway runs for the model: the name the model calls it by, its
    item type, and (for `mcp_call`) the server label and name the item shows."""

    name: str
    kind: str
    server_label: str
    remote_name: str


@dataclass
class ToolSet:
    """A response's server tools (model-facing name -> ServerTool), the chat tools
    that offer them, and the `mcp_list_tools` items to show first."""

    toolbox: registry.Toolbox | None = None
    server: dict[str, ServerTool] = field(default_factory=dict)
    chat_tools: list[dict[str, Any]] = field(default_factory=list)
    listings: list[dict[str, Any]] = field(default_factory=list)

    def get(self, name: str | None) -> ServerTool | None:
        return self.server.get(name) if name else None


def _chat_tool(tool: registry.Tool) -> dict[str, Any]:
    function = {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.input_schema,
    }
    return {"type": "function", "function": function}


def _server_tool(tool: registry.Tool) -> ServerTool:
    if tool.server is None:
        return ServerTool(tool.name, WEB_SEARCH_CALL, tool.server_label, tool.name)
    return ServerTool(tool.name, MCP_CALL, tool.server_label, tool.remote_name)


def _needs_servers(tools: list[dict[str, Any]]) -> bool:
    return any(
        tool["type"] == "mcp"
        or (tool["type"] == "function" and registry.SEPARATOR in tool["name"])
        for tool in tools
    )


async def _toolbox(principal: Principal, tools: list[dict[str, Any]]) -> Any:
    if _needs_servers(tools):
        return await registry.toolbox_for(principal)
    builtin = {tool.name: tool for tool in registry.builtin_tools()}
    return registry.Toolbox(principal=principal, tools=builtin)


def _listing(
    server: registry.ServerTools, allowed: list[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """The `mcp_list_tools` item of a server (its allowed tools, or why none), and
    the model-facing names of the tools it shows."""
    shown = [
        tool for tool in server.tools if allowed is None or tool.remote_name in allowed
    ]
    item = {
        "type": "mcp_list_tools",
        "server_label": server.target.label,
        "tools": [
            {
                "name": tool.remote_name,
                "input_schema": tool.input_schema,
                "description": tool.description,
                "annotations": tool.annotations,
            }
            for tool in shown
        ],
        "error": None
        if server.up
        else f"The MCP server could not list its tools: {server.detail}",
    }
    return item, [tool.name for tool in shown]


def _add(found: ToolSet, tool: registry.Tool, *, offer: bool = True) -> None:
    if tool.name in found.server:
        return
    found.server[tool.name] = _server_tool(tool)
    if offer:
        found.chat_tools.append(_chat_tool(tool))


def _add_mcp(found: ToolSet, toolbox: Any, tool: dict[str, Any], param: str) -> None:
    label = tool["server_label"]
    server = toolbox.server(label)
    if server is None:
        raise InvalidRequest(
            f"No MCP server labelled {label!r} is registered for this project.",
            param=f"{param}.server_label",
            code="unknown_server_label",
        )
    listing, offered = _listing(server, tool["allowed_tools"])
    for name in offered:
        _add(found, toolbox.get(name))
    found.listings.append(listing)


async def toolset_resolve(principal: Principal, tools: list[dict[str, Any]]) -> ToolSet:
    """Return the server tools of a request's cleaned tools for `principal`; raise
    InvalidRequest naming the `mcp` tool whose server_label is not the caller's."""
    found = ToolSet()
    if not any(
        tool["type"] != "function"
        or registry.SEPARATOR in tool["name"]
        or tool["name"] in (SEARCH_TOOL, OPEN_PAGE_TOOL)
        for tool in tools
    ):
        return found
    toolbox = found.toolbox = await _toolbox(principal, tools)
    for index, tool in enumerate(tools):
        if tool["type"] == "function":
            if tool["name"] in toolbox.tools:  # offered as the client described it
                _add(found, toolbox.get(tool["name"]), offer=False)
        elif tool["type"] == "mcp":
            _add_mcp(found, toolbox, tool, f"tools[{index}]")
        else:
            for name in (SEARCH_TOOL, OPEN_PAGE_TOOL):
                _add(found, toolbox.get(name))
    return found
