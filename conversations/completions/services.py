"""The writes of a conversation-aware turn: resolve the conversation, then store the turn.

Nothing is written before the upstream answers: a conversation to be created gets its
id up front (so the stream's first event can name it, with the ids of the two items)
and is created with the turn's items, in the one transaction that stores them.
"""

import copy
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from conversations.completions.idempotency import (
    Replay,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    idempotency_scope,
)
from conversations.completions.requests import TurnRequest
from conversations.models import Conversation, ItemStatus, ItemType, MessageRole
from conversations.selectors import (
    CACHE_KIND,
    Caller,
    caller_get,
    conversation_get_cached,
)
from conversations.services import items_insert
from conversations.validation import title_clean
from janserver import auth_cache
from janserver.http.json_body import storable
from janserver.ids import new_conversation_id, new_id, new_item_id
from janserver.principal import Principal
from orgs.services import project_personal_ensure

ROUTE = "conv.chat.completions"
CALL_ID_MAX_CHARS = 128


@dataclass
class Turn:
    """One request's conversation, decided before the upstream is called."""

    caller: Caller
    conversation: Conversation | None  # an existing conversation
    conversation_id: str | None  # existing, or reserved for a new one
    title: str | None
    instruction: str
    ask: dict[str, Any] | None
    ask_item_id: str | None
    completion_item_id: str | None
    store: bool
    store_reasoning: bool
    claim: int | None = None

    @property
    def created(self) -> bool:
        return self.conversation is None and self.conversation_id is not None

    def metadata(self) -> dict[str, Any]:
        """Return the metadata the client receives (first event, or `metadata`)."""
        return {
            "conversation_id": self.conversation_id,
            "conversation_created": self.created,
            "conversation_title": self.title,
            "ask_item_id": self.ask_item_id,
            "completion_item_id": self.completion_item_id,
            "store": self.store,
            "store_reasoning": self.store_reasoning,
        }


@dataclass(frozen=True, slots=True)
class Reply:
    """How the turn ended: the assistant's message (OpenAI chat shape, reasoning in
    `reasoning_content`), whether it is complete, and the chat.completion a retry
    with the same Idempotency-Key gets back (empty for a turn without a key)."""

    message: dict[str, Any]
    complete: bool
    completion: dict[str, Any]


def turn_build(
    caller: Caller, request: TurnRequest, conversation: Conversation | None
) -> Turn:
    """Return the Turn of `request` in `conversation` (None: a new one when storing)."""
    store = request.store
    if conversation is not None:
        conversation_id: str | None = conversation.public_id
        title = conversation.title or (title_clean(request.title) if store else "")
        workspace = conversation.workspace
        instruction = workspace.instruction if workspace is not None else ""
    else:
        conversation_id = new_conversation_id() if store else None
        title = title_clean(request.title) if store else ""
        instruction = ""
    return Turn(
        caller=caller,
        conversation=conversation,
        conversation_id=conversation_id,
        title=title or None,
        instruction=instruction,
        ask=request.ask,
        ask_item_id=new_item_id() if store else None,
        completion_item_id=new_item_id() if store else None,
        store=store,
        store_reasoning=request.store_reasoning,
    )


def _conversation(caller: Caller, request: TurnRequest) -> Conversation | None:
    if request.conversation_id is None:
        return None
    return conversation_get_cached(caller=caller, public_id=request.conversation_id)


def turn_begin(
    *,
    principal: Principal,
    project_public_id: str | None,
    request: TurnRequest,
    idempotency_key: str | None = None,
) -> Turn | Replay:
    """Resolve the caller, claim the Idempotency-Key and find the conversation.

    Returns a Replay when the key's first request has finished. Raises NotFound for
    a conversation the caller cannot see (or a deleted one), Conflict or
    InvalidRequest for a key in use (see idempotency_claim). Without a key it only
    reads, and without a conversation id it reads nothing (beyond caller_get).
    """
    caller = caller_get(principal=principal, project_public_id=project_public_id)
    if idempotency_key is None:
        return turn_build(caller, request, _conversation(caller, request))
    with transaction.atomic():
        claimed = idempotency_claim(
            scope=idempotency_scope(caller),
            route=ROUTE,
            key=idempotency_key,
            request_hash=request.request_hash,
        )
        if isinstance(claimed, Replay):
            return claimed
        turn = turn_build(caller, request, _conversation(caller, request))
        turn.claim = claimed
        return turn


def new_conversation(turn: Turn) -> Conversation:
    """Return the (unsaved) new conversation of a turn, in the caller's project."""
    caller = turn.caller
    project_id = caller.project_id
    if project_id is None:
        project_id = project_personal_ensure(user=caller.user).pk
    return Conversation(
        public_id=turn.conversation_id or new_conversation_id(),
        owner=caller.user,
        project_id=project_id,
        title=turn.title or "",
    )


def _reasoning_item(text: str, status: str) -> dict[str, Any]:
    content = [{"type": "reasoning_text", "text": text}]
    return {
        "type": ItemType.REASONING,
        "summary": [],
        "content": content,
        "status": status,
    }


def _call_item(call: dict[str, Any], status: str) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": ItemType.FUNCTION_CALL,
        "call_id": (call.get("id") or new_id("call"))[:CALL_ID_MAX_CHARS],
        "name": (function.get("name") or "")[:CALL_ID_MAX_CHARS],
        "arguments": function.get("arguments") or "",
        "status": status,
    }


def _reply_items(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    """Item field values of the reply: reasoning (when kept), message, tool calls."""
    status = ItemStatus.COMPLETED if reply.complete else ItemStatus.INCOMPLETE
    # The upstream's text is kept even where the database could not take it as is.
    message = storable(reply.message)
    items = []
    if turn.store_reasoning and message.get("reasoning_content"):
        items.append(_reasoning_item(message["reasoning_content"], status))
    text: dict[str, Any] = {
        "type": "output_text",
        "text": message.get("content") or "",
        "annotations": [],
        "logprobs": [],
    }
    items.append(
        {
            "public_id": turn.completion_item_id,
            "type": ItemType.MESSAGE,
            "role": MessageRole.ASSISTANT,
            "content": [text],
            "status": status,
        }
    )
    items.extend(_call_item(call, status) for call in message.get("tool_calls") or [])
    return items


@transaction.atomic
def turn_store(*, turn: Turn, reply: Reply) -> Conversation:
    """Store the ask and the reply as items of the turn's conversation, creating it
    when new and titling it when untitled. Raises NotFound if it was deleted."""
    if turn.conversation is None:
        conversation = new_conversation(turn)
        conversation.save(force_insert=True)
    else:  # a copy: the cache shares turn.conversation, and items_insert changes it
        conversation = copy.copy(turn.conversation)
        if not conversation.title and turn.title:
            Conversation.objects.filter(pk=conversation.pk, title="").update(
                title=turn.title
            )
            auth_cache.invalidate(CACHE_KIND, conversation.public_id)
    items_insert(conversation, turn_items(turn, reply), response=None)
    return conversation


def turn_items(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    """Return the Item field values of a turn: the ask, then the reply."""
    ask = [{**turn.ask, "public_id": turn.ask_item_id}] if turn.ask else []
    return [*ask, *_reply_items(turn, reply)]


@transaction.atomic
def turn_finish(*, turn: Turn, reply: Reply) -> Conversation | None:
    """Store the turn (with `store`) and settle its Idempotency-Key, all or nothing.

    The key keeps a complete answer for a retry; an incomplete one (the client went
    away, the upstream failed) releases it, so that a retry runs again.
    """
    conversation = turn_store(turn=turn, reply=reply) if turn.store else None
    turn_key_settle(turn=turn, reply=reply, conversation=conversation)
    return conversation


def turn_key_settle(
    *, turn: Turn, reply: Reply, conversation: Conversation | None
) -> None:
    """Record a complete answer under the turn's Idempotency-Key, or release the key
    when the answer is incomplete: a retry must not get a cut answer back for a day
    (call inside the turn's transaction)."""
    if turn.claim is None:
        return
    if not reply.complete:
        idempotency_release(claim=turn.claim)
    else:
        result = {"metadata": turn.metadata(), "completion": storable(reply.completion)}
        idempotency_complete(claim=turn.claim, result=result, conversation=conversation)
