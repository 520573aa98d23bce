"""Reading a conversation-aware chat request: Jan's extra fields, the ask, the title.

`conversation`, `store` and `store_reasoning` are Jan's; they are taken out of the
body, so the upstream receives exactly what /v1/chat/completions would send it.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from conversations.models import ItemType, MessageRole
from conversations.validation import item_clean
from inference.payloads import CHAT, InferenceRequest, bool_field, parse
from janserver.errors import InvalidRequest

JAN_FIELDS = ("conversation", "store", "store_reasoning")
TITLE_CHARS = 50
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_CHARS = 255
# A retry may switch between a stream and a JSON answer of the same request.
UNHASHED_FIELDS = frozenset({"stream", "stream_options"})
TOOL_ROLES = ("tool", "function")


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """A validated conversation-aware request.

    `payload` is the chat request without Jan's fields (the workspace instruction is
    added once the conversation is known); `ask` holds the Item field values of the
    last input message, checked up front so that storing it cannot fail later.
    """

    payload: InferenceRequest
    conversation_id: str | None
    store: bool
    store_reasoning: bool
    ask: dict[str, Any] | None
    title: str
    request_hash: str


def _conversation_id(body: dict[str, Any]) -> str | None:
    value = body.get("conversation")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(
            "`conversation` must be a conversation id (a string).",
            param="conversation",
        )
    return value


def request_hash(body: dict[str, Any]) -> str:
    """Return the SHA-256 of a request body, leaving out how the answer is delivered."""
    kept = {key: value for key, value in body.items() if key not in UNHASHED_FIELDS}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def turn_request_parse(raw: bytes, *, hashed: bool = False) -> TurnRequest:
    """Validate a request body; raise InvalidRequest naming the first bad field.

    `hashed` computes `request_hash` (only an Idempotency-Key needs it).
    """
    payload = parse(raw, CHAT)
    body = payload.body
    conversation_id = _conversation_id(body)
    store = bool_field(body, "store")
    store_reasoning = bool_field(body, "store_reasoning")
    digest = request_hash(body) if hashed else ""
    messages = body["messages"]
    upstream = {key: value for key, value in body.items() if key not in JAN_FIELDS}
    return TurnRequest(
        payload=dataclasses.replace(payload, body=upstream),
        conversation_id=conversation_id,
        store=store,
        store_reasoning=store_reasoning,
        ask=ask_item(messages) if store else None,
        title=title_from(messages),
        request_hash=digest,
    )


def idempotency_key_get(headers: Any) -> str | None:
    """Return the request's Idempotency-Key (None without one); raise InvalidRequest."""
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_CHARS or not _printable(key):
        raise InvalidRequest(
            f"The {IDEMPOTENCY_HEADER} header must be 1 to "
            f"{IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters.",
            param=IDEMPOTENCY_HEADER,
        )
    return key


def _printable(text: str) -> bool:
    return all(" " <= char <= "~" for char in text)


def _text_of(content: Any) -> str:
    """Return the text of a chat message's content (its text parts, joined)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [
        part["text"]
        for part in content
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    ]
    return "\n".join(texts)


def title_from(messages: list[Any]) -> str:
    """Return a title from the first user message: its text, 50 characters + `...`."""
    for message in messages:
        if message.get("role") == MessageRole.USER:
            text = " ".join(_text_of(message.get("content")).split())
            if len(text) > TITLE_CHARS:
                return text[:TITLE_CHARS] + "..."
            return text
    return ""


def _image_part(part: dict[str, Any]) -> dict[str, Any] | None:
    image = part.get("image_url")
    if isinstance(image, str):
        return {"type": "input_image", "image_url": image}
    if isinstance(image, dict) and isinstance(image.get("url"), str):
        converted = {"type": "input_image", "image_url": image["url"]}
        if image.get("detail") is not None:
            converted["detail"] = image["detail"]
        return converted
    return None


def _file_part(part: dict[str, Any]) -> dict[str, Any] | None:
    file = part.get("file")
    if not isinstance(file, dict):
        return None
    fields = ("file_id", "file_data", "filename")
    kept = {key: file[key] for key in fields if isinstance(file.get(key), str)}
    return {"type": "input_file", **kept} if kept.keys() - {"filename"} else None


def _content_parts(content: Any, role: str) -> list[dict[str, Any]]:
    """Convert chat content to item content parts; parts items cannot hold are left out
    (audio, for one), since the request itself is valid for the model."""
    text_kind = "output_text" if role == MessageRole.ASSISTANT else "input_text"
    if isinstance(content, str):
        return [{"type": text_kind, "text": content}]
    parts = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": text_kind, "text": part.get("text")})
        elif kind == "refusal" and role == MessageRole.ASSISTANT:
            parts.append({"type": "refusal", "refusal": part.get("refusal")})
        elif kind == "image_url" and (image := _image_part(part)):
            parts.append(image)
        elif kind == "file" and (file := _file_part(part)):
            parts.append(file)
    return parts


def ask_item(messages: list[Any]) -> dict[str, Any]:
    """Return the last input message as Item field values; raise InvalidRequest.

    A tool result becomes a `function_call_output` item, anything else a message
    item of the same role.
    """
    index = len(messages) - 1
    message, param = messages[index], f"messages[{index}]"
    role, content = message["role"], message.get("content")
    if role in TOOL_ROLES:
        call_id = message.get("tool_call_id") or message.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequest(
                "A stored tool message needs a `tool_call_id`.",
                param=f"{param}.tool_call_id",
            )
        raw = {"type": ItemType.FUNCTION_CALL_OUTPUT, "call_id": call_id}
        return item_clean({**raw, "output": _text_of(content)}, param)
    parts = _content_parts(content, role)
    return item_clean({"type": ItemType.MESSAGE, "role": role, "content": parts}, param)


def with_instruction(
    payload: InferenceRequest, *, instruction: str, sticky_key: str | None
) -> InferenceRequest:
    """Return `payload` with the workspace instruction as its first (system) message.

    The instruction goes first even when the client sent a system message of its
    own: the workspace's rules come before the conversation's.
    """
    body = payload.body
    if instruction:
        system = {"role": MessageRole.SYSTEM.value, "content": instruction}
        body = {**body, "messages": [system, *body["messages"]]}
    return dataclasses.replace(
        payload, body=body, sticky_key=sticky_key or payload.sticky_key
    )
