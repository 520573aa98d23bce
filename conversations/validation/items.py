"""OpenAI input items and their content parts, checked and normalized.

Unknown fields are refused rather than silently dropped.
"""

from collections.abc import Callable
from typing import Any

from conversations.models import ItemStatus, ItemType, MessageRole
from conversations.validation.fields import (
    MAX_ITEMS_PER_CALL,
    as_list,
    as_object,
    choice_field,
    known_only,
    string_field,
)
from janserver.errors import InvalidRequest, MissingParameter

CALL_ID_MAX_CHARS = 128
IMAGE_DETAILS = ("low", "high", "auto", "original")
FILE_DETAILS = ("low", "high", "auto")

Normalizer = Callable[[dict[str, Any], str], dict[str, Any]]


# Content parts.


def _text_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(part, {"type", "text"}, param)
    return {"type": part["type"], "text": string_field(part, "text", param)}


def _output_text_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(part, {"type", "text", "annotations", "logprobs"}, param)
    return {
        "type": "output_text",
        "text": string_field(part, "text", param),
        "annotations": as_list(part.get("annotations") or [], f"{param}.annotations"),
        "logprobs": as_list(part.get("logprobs") or [], f"{param}.logprobs"),
    }


def _refusal_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(part, {"type", "refusal"}, param)
    return {"type": "refusal", "refusal": string_field(part, "refusal", param)}


def _optional_strings(
    part: dict[str, Any], keys: tuple[str, ...], param: str
) -> dict[str, str]:
    found = {key: string_field(part, key, param, required=False) for key in keys}
    return {key: text for key, text in found.items() if text is not None}


def _image_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(part, {"type", "image_url", "file_id", "detail"}, param)
    sources = _optional_strings(part, ("image_url", "file_id"), param)
    if not sources:
        raise MissingParameter(
            f"{param} needs an image_url or a file_id.", param=f"{param}.image_url"
        )
    detail = choice_field(part, "detail", IMAGE_DETAILS, param, "auto")
    return {"type": "input_image", "detail": detail, **sources}


def _file_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(
        part, {"type", "file_id", "file_data", "file_url", "filename", "detail"}, param
    )
    fields = _optional_strings(
        part, ("file_id", "file_data", "file_url", "filename"), param
    )
    if not fields.keys() & {"file_id", "file_data", "file_url"}:
        raise MissingParameter(
            f"{param} needs a file_id, file_data or file_url.",
            param=f"{param}.file_id",
        )
    if part.get("detail") is not None:
        fields["detail"] = choice_field(part, "detail", FILE_DETAILS, param, "auto")
    return {"type": "input_file", **fields}


MESSAGE_PARTS: dict[str, Normalizer] = {
    "input_text": _text_part,
    "output_text": _output_text_part,
    "refusal": _refusal_part,
    "input_image": _image_part,
    "input_file": _file_part,
}
OUTPUT_PARTS: dict[str, Normalizer] = {
    "input_text": _text_part,
    "input_image": _image_part,
    "input_file": _file_part,
}
SUMMARY_PARTS: dict[str, Normalizer] = {"summary_text": _text_part}
REASONING_PARTS: dict[str, Normalizer] = {"reasoning_text": _text_part}


def _parts(
    value: Any, param: str, kinds: dict[str, Normalizer]
) -> list[dict[str, Any]]:
    parts = []
    for index, raw in enumerate(as_list(value, param)):
        path = f"{param}[{index}]"
        part = as_object(raw, path)
        normalize = kinds.get(part.get("type"))  # type: ignore[arg-type]
        if normalize is None:
            raise InvalidRequest(
                f"Invalid value for '{path}.type': use one of {', '.join(kinds)}.",
                param=f"{path}.type",
            )
        parts.append(normalize(part, path))
    return parts


# Items.


# Choices' `.values` builds a new list on every access: these are read per item.
ITEM_STATUSES = (ItemStatus.IN_PROGRESS, ItemStatus.COMPLETED, ItemStatus.INCOMPLETE)
TOOL_CALL_STATUSES = tuple(ItemStatus.values)
WEB_SEARCH_ACTIONS = ("search", "open_page", "find_in_page")
MESSAGE_ROLES = tuple(MessageRole.values)


def _status(item: dict[str, Any], param: str) -> str:
    return choice_field(item, "status", ITEM_STATUSES, param, ItemStatus.COMPLETED)


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(item, {"type", "id", "role", "content", "status"}, param)
    role = item.get("role")
    if role is None:
        raise MissingParameter(
            f"Missing required parameter: '{param}.role'.", param=f"{param}.role"
        )
    if role not in MESSAGE_ROLES:
        raise InvalidRequest(
            f"Invalid value for '{param}.role': use one of {', '.join(MESSAGE_ROLES)}.",
            param=f"{param}.role",
        )
    content = item.get("content")
    if isinstance(content, str):
        string_field(item, "content", param)
        kind = "output_text" if role == MessageRole.ASSISTANT else "input_text"
        content = [{"type": kind, "text": content}]
        if kind == "output_text":
            content[0] |= {"annotations": [], "logprobs": []}
    elif content is None:
        raise MissingParameter(
            f"Missing required parameter: '{param}.content'.", param=f"{param}.content"
        )
    else:
        content = _parts(content, f"{param}.content", MESSAGE_PARTS)
    return {"role": role, "content": content, "status": _status(item, param)}


def _function_call(item: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(item, {"type", "id", "call_id", "name", "arguments", "status"}, param)
    return {
        "call_id": string_field(
            item, "call_id", param, max_chars=CALL_ID_MAX_CHARS, allow_empty=False
        ),
        "name": string_field(
            item, "name", param, max_chars=CALL_ID_MAX_CHARS, allow_empty=False
        ),
        "arguments": string_field(item, "arguments", param),
        "status": _status(item, param),
    }


def _function_call_output(item: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(item, {"type", "id", "call_id", "output", "status"}, param)
    call_id = string_field(
        item, "call_id", param, max_chars=CALL_ID_MAX_CHARS, allow_empty=False
    )
    output = item.get("output")
    if output is None or isinstance(output, str):
        output = string_field(item, "output", param)
    else:
        output = _parts(output, f"{param}.output", OUTPUT_PARTS)
    return {"call_id": call_id, "output": output, "status": _status(item, param)}


def _reasoning(item: dict[str, Any], param: str) -> dict[str, Any]:
    fields = {"type", "id", "summary", "content", "encrypted_content", "status"}
    known_only(item, fields, param)
    if item.get("summary") is None:
        raise MissingParameter(
            f"Missing required parameter: '{param}.summary'.", param=f"{param}.summary"
        )
    content = item.get("content")
    return {
        "summary": _parts(item["summary"], f"{param}.summary", SUMMARY_PARTS),
        "content": None
        if content is None
        else _parts(content, f"{param}.content", REASONING_PARTS),
        "encrypted_content": string_field(
            item, "encrypted_content", param, required=False
        )
        or "",
        "status": _status(item, param),
    }


# Tool items the gateway ran (conversations.responses.toolruns), as it shows them.


def _label(item: dict[str, Any], param: str) -> str:
    label = string_field(
        item, "server_label", param, max_chars=CALL_ID_MAX_CHARS, allow_empty=False
    )
    return label or ""


def _web_search_call(item: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(item, {"type", "id", "status", "action"}, param)
    action = as_object(item.get("action") or {}, f"{param}.action")
    if action.get("type") not in WEB_SEARCH_ACTIONS:
        raise InvalidRequest(
            f"Invalid value for '{param}.action.type': use one of "
            f"{', '.join(WEB_SEARCH_ACTIONS)}.",
            param=f"{param}.action.type",
        )
    status = choice_field(
        item, "status", TOOL_CALL_STATUSES, param, ItemStatus.COMPLETED
    )
    return {"status": status, "details": {"action": action}}


def _mcp_call(item: dict[str, Any], param: str) -> dict[str, Any]:
    fields = {"type", "id", "server_label", "name", "arguments", "output", "error"}
    known_only(item, fields | {"status", "approval_request_id"}, param)
    error = item.get("error")
    if error is not None and not isinstance(error, dict | str):
        raise InvalidRequest(
            f"{param}.error must be an object.", param=f"{param}.error"
        )
    return {
        "name": string_field(
            item, "name", param, max_chars=CALL_ID_MAX_CHARS, allow_empty=False
        ),
        "arguments": string_field(item, "arguments", param),
        "output": string_field(item, "output", param, required=False),
        "status": choice_field(
            item, "status", TOOL_CALL_STATUSES, param, ItemStatus.COMPLETED
        ),
        "details": {"server_label": _label(item, param), "error": error},
    }


def _mcp_list_tools(item: dict[str, Any], param: str) -> dict[str, Any]:
    known_only(item, {"type", "id", "server_label", "tools", "error"}, param)
    tools = as_list(item.get("tools") or [], f"{param}.tools")
    for index, tool in enumerate(tools):
        as_object(tool, f"{param}.tools[{index}]")
    return {
        "status": ItemStatus.COMPLETED,
        "details": {
            "server_label": _label(item, param),
            "tools": tools,
            "error": string_field(item, "error", param, required=False),
        },
    }


ITEM_TYPES: dict[str, Normalizer] = {
    ItemType.MESSAGE: _message,
    ItemType.FUNCTION_CALL: _function_call,
    ItemType.FUNCTION_CALL_OUTPUT: _function_call_output,
    ItemType.REASONING: _reasoning,
    ItemType.WEB_SEARCH_CALL: _web_search_call,
    ItemType.MCP_CALL: _mcp_call,
    ItemType.MCP_LIST_TOOLS: _mcp_list_tools,
}


def item_clean(raw: Any, param: str) -> dict[str, Any]:
    """Return an OpenAI input item as Item field values; raise InvalidRequest.

    A message may leave out `type`, and may give its content as a string (stored as
    one input_text part, output_text for the assistant). A client-given `id` is
    ignored: the server assigns item ids.
    """
    item = as_object(raw, param)
    kind = item.get("type", ItemType.MESSAGE)
    normalize = ITEM_TYPES.get(kind)
    if normalize is None:
        raise InvalidRequest(
            f"Invalid value for '{param}.type': use one of {', '.join(ITEM_TYPES)}.",
            param=f"{param}.type",
        )
    return {"type": kind, **normalize(item, param)}


def items_clean(
    raw: Any, param: str = "items", *, max_items: int = MAX_ITEMS_PER_CALL
) -> list[dict[str, Any]]:
    """Return a list of at most `max_items` input items as Item field values."""
    items = as_list(raw, param)
    if len(items) > max_items:
        raise InvalidRequest(
            f"Too many items: {len(items)}; add at most {max_items} at a time.",
            param=param,
        )
    return [item_clean(item, f"{param}[{index}]") for index, item in enumerate(items)]
