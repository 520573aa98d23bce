"""The OpenAI shapes of a stored chat completion and of its input messages."""

from typing import Any

from conversations.models import StoredCompletion

# Request fields shown back on the stored object, as OpenAI does (when given).
SHOWN_PARAMETERS = (
    "temperature",
    "top_p",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tools",
    "tool_choice",
    "response_format",
)
MESSAGE_FIELDS = ("name", "tool_calls", "tool_call_id", "refusal", "audio")
CONTENT_PART_TYPES = frozenset({"text", "image_url"})


def parameters_of(body: dict[str, Any]) -> dict[str, Any]:
    """Return the request fields a stored completion shows back (`user` as
    OpenAI's `input_user`)."""
    shown = {key: body[key] for key in SHOWN_PARAMETERS if body.get(key) is not None}
    if isinstance(body.get("user"), str):
        shown["input_user"] = body["user"]
    return shown


def completion_object(stored: StoredCompletion) -> dict[str, Any]:
    """Return OpenAI's chat.completion object of a stored completion, with its
    metadata and request parameters."""
    completion = stored.completion if isinstance(stored.completion, dict) else {}
    return {
        **stored.parameters,
        **completion,
        "id": stored.public_id,
        "object": "chat.completion",
        "created": completion.get("created", int(stored.created_at.timestamp())),
        "model": completion.get("model") or stored.model,
        "choices": completion.get("choices") or [],
        "usage": completion.get("usage"),
        "metadata": stored.metadata,
    }


def message_id(stored: StoredCompletion, index: int) -> str:
    return f"{stored.public_id}-{index}"


def message_object(stored: StoredCompletion, index: int) -> dict[str, Any]:
    """Return OpenAI's stored message object of input message `index`: a string
    content as is, a list of parts as `content_parts` (text and image parts) with
    their text joined in `content`."""
    message = stored.messages[index]
    content = message.get("content")
    parts = None
    if isinstance(content, list):
        parts = [
            part
            for part in content
            if isinstance(part, dict) and part.get("type") in CONTENT_PART_TYPES
        ]
        texts = [part.get("text") or "" for part in parts if part["type"] == "text"]
        content = "".join(texts) if texts else None
    shown = {key: message[key] for key in MESSAGE_FIELDS if key in message}
    return {
        "id": message_id(stored, index),
        "role": message.get("role"),
        "content": content,
        "content_parts": parts,
        **shown,
    }
