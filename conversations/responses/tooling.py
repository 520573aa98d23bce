"""Which of a response's tools run on the server, and what the model is offered for them.

A request's tools (options.tools_clean) resolve against the caller's toolbox
(tools.registry): `web_search` offers the built-in `google_search` and `scrape`; an
`mcp` tool offers the allowed tools of the registered server its `server_label`
names (a server the caller may not use is unknown: 400, never a leak); a function
tool whose name is a server tool (Jan's `google_search`) runs on the server too. Any
other function tool is the client's. Server calls show as `web_search_call` items
(the built-in tools) or `mcp_call` items (a registered server's). chat_offer maps
the request's tool_choice onto the chat `tools` and `tool_choice` of each step.
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
    # An `mcp` tool's server_label (as the request gave it) -> its tools' names.
    by_label: dict[str, list[str]] = field(default_factory=dict)
    # The chat `tools` and `tool_choice` of the steps after a round of tool calls.
    later: dict[str, Any] = field(default_factory=dict)

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
    found.by_label.setdefault(label, []).extend(offered)
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


def _function_choice(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def _offered_names(found: ToolSet, chosen: dict[str, Any]) -> list[str]:
    """The model-facing names of the tools a tool_choice entry (cleaned by
    options.tool_choice) names; 400 when none of them is offered now."""
    kind = chosen["type"]
    if kind == "function":
        return [chosen["name"]]
    if kind != "mcp":  # web search: its search tool first
        return [SEARCH_TOOL, OPEN_PAGE_TOOL]
    label, name = chosen["server_label"], chosen["name"]
    names = found.by_label.get(label, [])
    if name is not None:
        names = [n for n in names if found.server[n].remote_name == name]
    if not names:
        what = f"tool {name!r} of " if name is not None else ""
        raise InvalidRequest(
            f"`tool_choice` names {what}MCP server {label!r}, which offers no such "
            "tool now.",
            param="tool_choice",
        )
    return names


def _only(tools: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    return [tool for tool in tools if tool["function"]["name"] in names]


def chat_offer(chat: dict[str, Any], choice: Any, found: ToolSet) -> dict[str, Any]:
    """Return the chat `tools` and `tool_choice` of a response's first model step
    (request.chat's function tools, then those offering its server tools), and keep
    in `found.later` those of the steps after a round of tool calls.

    A forced choice (required, a function, web_search, an mcp server or tool) holds
    for the first step only: the model called, then answers or calls again as it
    likes (`auto`), as a forced choice would otherwise loop. web_search forces its
    search tool; an mcp choice with a name forces that tool, without one it offers
    only that server's tools with `required`; allowed_tools offers only the tools
    it lists, in every step, with its mode in the first.
    """
    tools = list(chat.get("tools") or [])
    names = {tool["function"]["name"] for tool in tools}
    tools += [
        tool for tool in found.chat_tools if tool["function"]["name"] not in names
    ]
    first: dict[str, Any] = {"tools": tools} if tools else {}
    chat_choice = chat.get("tool_choice")
    if isinstance(choice, dict) and choice["type"] == "allowed_tools":
        allowed = [n for entry in choice["tools"] for n in _offered_names(found, entry)]
        first = {"tools": _only(tools, allowed)}
        chat_choice = choice["mode"]
    elif (
        isinstance(choice, dict) and choice["type"] == "mcp" and choice["name"] is None
    ):
        first = {"tools": _only(tools, _offered_names(found, choice))}
        chat_choice = "required"
    elif isinstance(choice, dict) and choice["type"] != "function":
        chat_choice = _function_choice(_offered_names(found, choice)[0])
    if chat_choice is not None and (tools or chat_choice == "none"):
        first["tool_choice"] = chat_choice
    later = dict(first)
    if isinstance(choice, dict) and choice["type"] == "mcp" and choice["name"] is None:
        later["tools"] = tools
    if later.get("tool_choice") not in (None, "none", "auto"):
        later["tool_choice"] = "auto"
    found.later = later
    return first


def without_server_tools(found: ToolSet, offer: dict[str, Any]) -> dict[str, Any]:
    """`offer` (chat tools and tool_choice) with the server tools taken out: what
    the model is offered once the response's max_tool_calls is reached."""
    tools = [
        tool
        for tool in offer.get("tools") or []
        if found.get(tool["function"]["name"]) is None
    ]
    if not tools:
        return {"tool_choice": "none"} if offer.get("tool_choice") == "none" else {}
    return {**offer, "tools": tools}
