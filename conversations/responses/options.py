"""Responses tool and text-format options, checked and translated to chat options."""

from typing import Any

from janserver.errors import InvalidRequest, MissingParameter

TOOL_CHOICES = ("none", "auto", "required")
ALLOWED_MODES = ("auto", "required")
FORMATS = ("text", "json_object", "json_schema")


WEB_SEARCH_TYPES = ("web_search", "web_search_preview")
SEARCH_CONTEXT_SIZES = ("low", "medium", "high")
# What an `mcp` tool may not carry: only servers registered by the organization run.
MCP_UNSUPPORTED = ("server_url", "connector_id", "authorization", "headers")


def _function_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    """A function tool in OpenAI's flat shape, or the chat shape Jan's clients send
    (`{"type": "function", "function": {...}}`), as the flat shape."""
    nested = tool.get("function")
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidRequest(
                f"{param}.function must be an object.", param=f"{param}.function"
            )
        tool, param = nested, f"{param}.function"
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise MissingParameter(
            f"Missing required parameter: '{param}.name'.", param=f"{param}.name"
        )
    for key, kind, label in (
        ("parameters", dict, "an object"),
        ("description", str, "a string"),
        ("strict", bool, "a boolean"),
    ):
        if tool.get(key) is not None and not isinstance(tool[key], kind):
            raise InvalidRequest(
                f"{param}.{key} must be {label}.", param=f"{param}.{key}"
            )
    return {
        "type": "function",
        "name": name,
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict"),
    }


def _web_search_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    size = tool.get("search_context_size", "medium")
    if size not in SEARCH_CONTEXT_SIZES:
        raise InvalidRequest(
            f"{param}.search_context_size must be one of "
            f"{', '.join(SEARCH_CONTEXT_SIZES)}.",
            param=f"{param}.search_context_size",
        )
    for key in ("filters", "user_location"):
        if tool.get(key) is not None and not isinstance(tool[key], dict):
            raise InvalidRequest(
                f"{param}.{key} must be an object.", param=f"{param}.{key}"
            )
    return {
        "type": tool["type"],
        "filters": tool.get("filters"),
        "search_context_size": size,
        "user_location": tool.get("user_location"),
    }


def _allowed_tools(value: Any, param: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("tool_names")
        param = f"{param}.tool_names"
    if not isinstance(value, list) or not all(
        isinstance(name, str) and name for name in value
    ):
        raise InvalidRequest(f"{param} must be an array of tool names.", param=param)
    return list(value)


def _mcp_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    label = tool.get("server_label")
    if not isinstance(label, str) or not label:
        raise MissingParameter(
            f"Missing required parameter: '{param}.server_label'.",
            param=f"{param}.server_label",
        )
    for key in MCP_UNSUPPORTED:
        if tool.get(key) is not None:
            raise InvalidRequest(
                f"{param}.{key} is not supported: an `mcp` tool names an MCP server "
                "registered by your organization with `server_label`.",
                param=f"{param}.{key}",
            )
    approval = tool.get("require_approval", "never")
    if approval != "never":
        raise InvalidRequest(
            f'{param}.require_approval must be "never": tool approvals are not '
            "supported, registered servers' allowed tools run without one.",
            param=f"{param}.require_approval",
        )
    description = tool.get("server_description")
    if description is not None and not isinstance(description, str):
        raise InvalidRequest(
            f"{param}.server_description must be a string.",
            param=f"{param}.server_description",
        )
    return {
        "type": "mcp",
        "server_label": label,
        "allowed_tools": _allowed_tools(
            tool.get("allowed_tools"), f"{param}.allowed_tools"
        ),
        "require_approval": "never",
        "server_description": description,
    }


def _tool(tool: Any, param: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InvalidRequest("Each tool must be an object.", param=param)
    kind = tool.get("type")
    if kind == "function":
        return _function_tool(tool, param)
    if kind in WEB_SEARCH_TYPES:
        return _web_search_tool(tool, param)
    if kind == "mcp":
        return _mcp_tool(tool, param)
    raise InvalidRequest(
        f"Unsupported tool type {kind!r}: use `function`, `web_search` or `mcp`.",
        param=f"{param}.type",
    )


def tools_clean(value: Any) -> list[dict[str, Any]]:
    """Return the tools of a request: function tools (either shape), `web_search`
    and `mcp` tools (servers registered by the caller's organization)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("`tools` must be an array.", param="tools")
    return [_tool(tool, f"tools[{i}]") for i, tool in enumerate(value)]


def chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Return a Responses function tool as a chat completions tool."""
    function = {"name": tool["name"]}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def _choice_error(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="tool_choice")


def _labels(tools: list[dict[str, Any]]) -> dict[str, list[str] | None]:
    return {t["server_label"]: t["allowed_tools"] for t in tools if t["type"] == "mcp"}


def _named_tool(value: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A tool named by `tool_choice` (or one of its allowed_tools), checked against
    the request's `tools`, in the Responses shape."""
    kind = value.get("type")
    if kind == "function":
        nested = value.get("function")  # the chat shape, as Jan's clients send
        name = nested.get("name") if isinstance(nested, dict) else value.get("name")
        if not isinstance(name, str) or not name:
            raise _choice_error("A function `tool_choice` needs a `name`.")
        if not any(t["type"] == "function" and t["name"] == name for t in tools):
            raise _choice_error(
                f"`tool_choice` names function {name!r}: not in `tools`."
            )
        return {"type": "function", "name": name}
    if kind in WEB_SEARCH_TYPES:
        if not any(t["type"] in WEB_SEARCH_TYPES for t in tools):
            raise _choice_error(
                f"`tool_choice` names {kind}: no web_search tool in `tools`."
            )
        return {"type": kind}
    if kind == "mcp":
        return _mcp_choice(value, tools)
    raise _choice_error(
        f"`tool_choice` cannot name a tool of type {kind!r}: use function, "
        "web_search, web_search_preview or mcp."
    )


def _mcp_choice(value: dict[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    label, name = value.get("server_label"), value.get("name")
    labels = _labels(tools)
    if not isinstance(label, str) or label not in labels:
        raise _choice_error(
            f"`tool_choice` names MCP server {label!r}: no `mcp` tool in `tools` "
            "has that server_label."
        )
    if name is not None and not isinstance(name, str):
        raise _choice_error("`tool_choice.name` must be a string.")
    allowed = labels[label]
    if name is not None and allowed is not None and name not in allowed:
        raise _choice_error(
            f"`tool_choice` names tool {name!r}: not in the allowed_tools of {label!r}."
        )
    return {"type": "mcp", "server_label": label, "name": name}


def _allowed_choice(
    value: dict[str, Any], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    mode, listed = value.get("mode"), value.get("tools")
    if mode not in ALLOWED_MODES:
        raise _choice_error("`tool_choice.mode` must be auto or required.")
    if not isinstance(listed, list) or not listed:
        raise _choice_error("`tool_choice.tools` must be a non-empty array of tools.")
    if not all(isinstance(tool, dict) for tool in listed):
        raise _choice_error("Each of `tool_choice.tools` must be an object.")
    named = [_named_tool(tool, tools) for tool in listed]
    return {"type": "allowed_tools", "mode": mode, "tools": named}


def tool_choice(value: Any, tools: list[dict[str, Any]]) -> tuple[Any, Any]:
    """Return a request's tool_choice in the Responses shape and, for the forms that
    need no server tool resolved (none, auto, required, function), the chat shape
    (None otherwise: tooling.chat_offer maps the others). A choice naming a tool
    or server label that `tools` (cleaned) does not offer is refused."""
    if value is None:
        return "auto", None
    if value in TOOL_CHOICES:
        return value, value
    if not isinstance(value, dict):
        raise _choice_error(
            "`tool_choice` must be none, auto, required or an object naming a tool."
        )
    if value.get("type") == "allowed_tools":
        return _allowed_choice(value, tools), None
    chosen = _named_tool(value, tools)
    if chosen["type"] == "function":
        return chosen, {"type": "function", "function": {"name": chosen["name"]}}
    return chosen, None


def max_tool_calls_clean(value: Any) -> int | None:
    """Return a request's max_tool_calls: None or a positive integer."""
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or value < 1
    ):
        raise InvalidRequest(
            "`max_tool_calls` must be a positive integer.", param="max_tool_calls"
        )
    return value


def text_config(value: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return a request's text config (as echoed) and the chat response_format."""
    if value is None:
        return {"format": {"type": "text"}}, None
    if not isinstance(value, dict):
        raise InvalidRequest("`text` must be an object.", param="text")
    fmt = value.get("format") or {"type": "text"}
    if not isinstance(fmt, dict) or fmt.get("type") not in FORMATS:
        raise InvalidRequest(
            f"`text.format.type` must be one of {', '.join(FORMATS)}.",
            param="text.format.type",
        )
    echoed = {
        "format": fmt,
        **({"verbosity": value["verbosity"]} if value.get("verbosity") else {}),
    }
    if fmt["type"] == "text":
        return echoed, None
    if fmt["type"] == "json_object":
        return echoed, {"type": "json_object"}
    if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
        raise MissingParameter(
            "A json_schema format needs a `name` and a `schema` object.",
            param="text.format.schema",
        )
    schema = {
        key: fmt[key]
        for key in ("name", "schema", "description", "strict")
        if fmt.get(key) is not None
    }
    return echoed, {"type": "json_schema", "json_schema": schema}
