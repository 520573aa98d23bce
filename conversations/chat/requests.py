"""Reading the fields /v1/chat/completions takes beyond the model's: Jan's
`conversation` (and `store_reasoning`), OpenAI's `store` and `metadata`.

They are taken out of the body sent upstream. A request with neither `conversation`
nor `store` is not read here at all: it stays exactly what it was before.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from conversations.completions.requests import ask_item, title_from
from conversations.validation import metadata_clean
from inference.payloads import InferenceRequest, bool_field
from janserver.errors import InvalidRequest

CONVERSATION_ID_MAX_CHARS = 64


def kept_fields_present(body: dict[str, Any]) -> bool:
    """Whether the request may ask for a conversation turn or a stored completion
    (two dict lookups: the plain request's only extra cost)."""
    return "conversation" in body or "store" in body


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat request that keeps something: a conversation turn, a stored
    completion or both.

    `payload` is the request sent upstream, without the fields above (history and
    instruction are added once the conversation is read); `ask` holds the Item
    field values of the last input message, checked up front.
    """

    payload: InferenceRequest
    conversation_id: str | None
    store: bool
    metadata: dict[str, str]
    store_reasoning: bool
    ask: dict[str, Any] | None
    title: str


def conversation_ref(value: Any) -> str | None:
    """Return the conversation id of Jan's `conversation` field: an id, or an
    object `{"id": …}`; None when absent or null. Raise InvalidRequest otherwise."""
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"id"})
        if unknown:
            raise InvalidRequest(
                f"Unknown parameter: 'conversation.{unknown[0]}'.",
                param=f"conversation.{unknown[0]}",
            )
        value = value.get("id")
        param = "conversation.id"
    else:
        param = "conversation"
    if not isinstance(value, str) or not value:
        raise InvalidRequest(
            "`conversation` must be a conversation id, or an object with its `id`.",
            param=param,
        )
    if len(value) > CONVERSATION_ID_MAX_CHARS:
        raise InvalidRequest(
            f"A conversation id has at most {CONVERSATION_ID_MAX_CHARS} characters.",
            param=param,
        )
    return value


def chat_request_parse(payload: InferenceRequest) -> ChatRequest | None:
    """Read the fields above from a parsed chat request; None when it keeps nothing
    (no conversation, `store` false). Raise InvalidRequest naming the bad field."""
    body = payload.body
    conversation_id = conversation_ref(body.get("conversation"))
    store = bool_field(body, "store")
    if conversation_id is None and not store:
        return None
    metadata = metadata_clean(body.get("metadata")) if store else {}
    dropped = {"store", "metadata"} if store else {"store"}
    store_reasoning = False
    ask, title = None, ""
    if conversation_id is not None:
        store_reasoning = bool_field(body, "store_reasoning")
        dropped |= {"conversation", "store_reasoning"}
        ask, title = ask_item(body["messages"]), title_from(body["messages"])
    upstream = {key: value for key, value in body.items() if key not in dropped}
    return ChatRequest(
        payload=dataclasses.replace(payload, body=upstream),
        conversation_id=conversation_id,
        store=store,
        metadata=metadata,
        store_reasoning=store_reasoning,
        ask=ask,
        title=title,
    )
