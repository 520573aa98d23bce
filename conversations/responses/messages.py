"""Turn Responses items (OpenAI item shapes) into the chat messages sent upstream.

Messages keep their role (`developer` becomes `system`, which every chat template
knows); consecutive function calls become one assistant message with `tool_calls`,
merged into the assistant message just before them; function call outputs become
`tool` messages. An `mcp_call` the gateway ran becomes both (the call, then its output
or error). Reasoning items, tool lists and web search calls (whose results the
answer after them used) are not sent back to the model.
"""

from typing import Any

TEXT_PARTS = frozenset({"input_text", "output_text"})


def _part(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind in TEXT_PARTS:
        return {"type": "text", "text": part.get("text", "")}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal", "")}
    if kind == "input_image" and part.get("image_url"):
        image = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and (part.get("file_data") or part.get("file_id")):
        file = {
            key: part[key]
            for key in ("file_data", "file_id", "filename")
            if part.get(key)
        }
        return {"type": "file", "file": file}
    return None


def content_of(parts: Any) -> str | list[dict[str, Any]]:
    """Return message content parts as chat content: a string when all are text."""
    if isinstance(parts, str):
        return parts
    chat_parts = [
        converted
        for part in parts or []
        if isinstance(part, dict) and (converted := _part(part)) is not None
    ]
    if all(part["type"] == "text" for part in chat_parts):
        return "".join(part["text"] for part in chat_parts)
    return chat_parts


def _output_text(output: Any) -> str | list[dict[str, Any]]:
    return output if isinstance(output, str) else content_of(output)


def _tool_call(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": item.get("arguments") or ""},
    }


def _append_call(messages: list[dict[str, Any]], item: dict[str, Any]) -> None:
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(_tool_call(item))
        return
    messages.append(
        {"role": "assistant", "content": None, "tool_calls": [_tool_call(item)]}
    )


def _mcp_call(messages: list[dict[str, Any]], item: dict[str, Any]) -> None:
    call_id = item.get("id") or "mcp_call"
    name = f"{item.get('server_label', '')}__{item.get('name', '')}"
    _append_call(
        messages,
        {"call_id": call_id, "name": name, "arguments": item.get("arguments")},
    )
    error = item.get("error")
    output = item.get("output")
    if output is None:
        output = f"The tool failed: {error}" if error else ""
    messages.append({"role": "tool", "tool_call_id": call_id, "content": output})


def chat_messages(
    items: list[dict[str, Any]], *, instructions: str | None = None
) -> list[dict[str, Any]]:
    """Return the chat messages for `items` (OpenAI item shapes), after `instructions`."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append({"role": role, "content": content_of(item.get("content"))})
        elif kind == "function_call":
            _append_call(messages, item)
        elif kind == "mcp_call":
            _mcp_call(messages, item)
        elif kind == "function_call_output":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item["call_id"],
                    "content": _output_text(item.get("output")),
                }
            )
    return messages
