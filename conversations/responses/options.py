"""Responses tool and text-format options, checked and translated to chat options."""

from typing import Any

from janserver.errors import InvalidRequest, MissingParameter

TOOL_CHOICES = ("none", "auto", "required")
FORMATS = ("text", "json_object", "json_schema")


def _function_tool(tool: Any, param: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise InvalidRequest("Each tool must be an object.", param=param)
    if tool.get("type") != "function":
        raise InvalidRequest(
            f"Unsupported tool type {tool.get('type')!r}: only `function` tools "
            "are supported.",
            param=f"{param}.type",
        )
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


def tools_clean(value: Any) -> list[dict[str, Any]]:
    """Return the function tools of a request (only function tools are supported)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("`tools` must be an array.", param="tools")
    return [_function_tool(tool, f"tools[{i}]") for i, tool in enumerate(value)]


def chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """Return a Responses function tool as a chat completions tool."""
    function = {"name": tool["name"]}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def tool_choice(value: Any) -> tuple[Any, Any]:
    """Return a request's tool_choice in the Responses shape and the chat shape."""
    if value is None:
        return "auto", None
    if value in TOOL_CHOICES:
        return value, value
    if (
        isinstance(value, dict)
        and value.get("type") == "function"
        and isinstance(value.get("name"), str)
    ):
        chosen = {"type": "function", "name": value["name"]}
        return chosen, {"type": "function", "function": {"name": value["name"]}}
    raise InvalidRequest(
        "`tool_choice` must be none, auto, required or a function "
        '{"type": "function", "name": ...}.',
        param="tool_choice",
    )


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
