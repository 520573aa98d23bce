"""Beginning and keeping a chat completion that keeps something: the conversation's
history read before the upstream call, the stored completion written after it."""

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from conversations.chat.requests import ChatRequest
from conversations.completions.requests import TurnRequest
from conversations.completions.services import Turn, turn_build
from conversations.responses.messages import chat_messages
from conversations.responses.selectors import conversation_context
from conversations.selectors import Caller, caller_get
from conversations.stored_completions.objects import parameters_of
from conversations.stored_completions.services import stored_completion_create
from inference.payloads import InferenceRequest
from janserver.principal import Principal

logger = logging.getLogger("janserver.conversations")

COMPLETION_ID_MAX_CHARS = 64


@dataclass
class ChatBegun:
    """A kept chat request, its caller and conversation resolved: `payload` is what
    goes upstream (instruction, history, then the request's messages)."""

    caller: Caller
    request: ChatRequest
    payload: InferenceRequest
    turn: Turn | None
    parameters: dict[str, Any] = field(default_factory=dict)

    def conversation(self) -> dict[str, Any] | None:
        """Return Jan's `conversation` object of the answer (None without one)."""
        if self.turn is None:
            return None
        return {"id": self.turn.conversation_id, "title": self.turn.title}

    def store_kwargs(self, completion: dict[str, Any]) -> dict[str, Any] | None:
        """Return stored_completion_create()'s arguments for `completion`, or None
        when its id cannot be kept (not a string of at most 64 characters)."""
        public_id = completion.get("id")
        if not isinstance(public_id, str) or not 0 < len(public_id) <= 64:
            return None
        return {
            "caller": self.caller,
            "public_id": public_id,
            "model": self.request.payload.model,
            "messages": self.payload.body["messages"],
            "parameters": self.parameters,
            "completion": completion,
            "metadata": self.request.metadata,
        }


def _turn(caller: Caller, request: ChatRequest) -> tuple[Turn, list[dict[str, Any]]]:
    """Return the turn of `request` in its conversation and the history's messages;
    raise NotFound (param `conversation`) for one the caller cannot see."""
    conversation_id = str(request.conversation_id)
    conversation, items, instruction = conversation_context(
        caller=caller, public_id=conversation_id
    )
    turn = turn_build(
        caller,
        TurnRequest(
            payload=request.payload,
            conversation_id=conversation_id,
            store=True,
            store_reasoning=request.store_reasoning,
            ask=request.ask,
            title=request.title,
            request_hash="",
        ),
        conversation,
    )
    return turn, chat_messages(items, instructions=instruction)


def chat_begin(
    *, principal: Principal, project_public_id: str | None, request: ChatRequest
) -> ChatBegun:
    """Resolve the caller and, with a conversation, its turn and history (read only).

    Raises NotFound for an unknown or foreign conversation or project.
    """
    caller = caller_get(principal=principal, project_public_id=project_public_id)
    payload = request.payload
    turn = None
    if request.conversation_id is not None:
        turn, history = _turn(caller, request)
        body = {**payload.body, "messages": [*history, *payload.body["messages"]]}
        payload = dataclasses.replace(
            payload, body=body, sticky_key=turn.conversation_id
        )
    return ChatBegun(
        caller=caller,
        request=request,
        payload=payload,
        turn=turn,
        parameters=parameters_of(payload.body) if request.store else {},
    )


def stored_completion_keep(begun: ChatBegun, completion: dict[str, Any]) -> None:
    """Store `completion` for a request with `store: true` (call in a database hop);
    an id that cannot be kept is logged and nothing is stored."""
    kwargs = begun.store_kwargs(completion)
    if kwargs is None:
        logger.warning(
            "Chat completion not stored: unusable id %r", completion.get("id")
        )
        return
    stored_completion_create(**kwargs)
