"""Watching a relayed stream: the metadata event first, the reply assembled on the way,
the turn stored once at the end.

The per-chunk path only feeds the assembler; storage happens in `finish()`, which the
gateway awaits before the response ends, or runs in a background task when the
client went away (the turn is then stored `incomplete`, with what was generated).
"""

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from conversations.completions.batching import batched, coalesced
from conversations.completions.bulk import turns_finish
from conversations.completions.idempotency import idempotency_release
from conversations.completions.services import Reply, Turn
from inference.collecting import CollectingAssembler
from inference.gateway import StreamOutcome
from janserver.errors import APIError
from janserver.ids import random_string

logger = logging.getLogger("janserver.conversations")


def completion_id() -> str:
    return "chatcmpl-" + random_string(29)


def metadata_event(metadata: dict[str, Any]) -> bytes:
    """Return the stream's first event: the turn's metadata."""
    return b"data: " + orjson.dumps(metadata) + b"\n\n"


def stream_reply(
    assembler: CollectingAssembler,
    outcome: StreamOutcome,
    *,
    model: str,
    with_reasoning: bool,
    with_completion: bool = True,
) -> Reply:
    """Return the Reply of a relayed stream, complete only when it reached [DONE].

    Its chat.completion (what a retry with the same Idempotency-Key gets back) is
    built only `with_completion`; empty otherwise.
    """
    assembler.settle()
    state = outcome.state
    complete = state.done and state.error is None and not outcome.disconnected
    message = assembler.message()
    if not with_completion:
        return Reply(message=message, complete=complete, completion={})
    kept = message if with_reasoning else assembler.message(with_reasoning=False)
    choice = {
        "index": 0,
        "message": kept,
        "finish_reason": assembler.finish_reason,
        "logprobs": None,
    }
    completion = {
        "id": assembler.completion_id or completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": state.usage,
    }
    return Reply(message=message, complete=complete, completion=completion)


class TurnObserver:
    """The StreamObserver of a conversation-aware stream (see the module docstring)."""

    def __init__(self, turn: Turn, *, model: str) -> None:
        self.turn = turn
        self.model = model
        # Without storage or a key to settle, nothing needs the reply.
        self.assembler = (
            CollectingAssembler() if turn.store or turn.claim is not None else None
        )

    suffix: Callable[[], bytes] | None = None

    def prefix(self) -> bytes:
        return metadata_event(self.turn.metadata())

    def feed(self, events: bytes) -> None:
        if self.assembler is not None:
            self.assembler.collect(events)

    async def finish(self, outcome: StreamOutcome) -> None:
        if self.assembler is None:
            return
        reply = stream_reply(
            self.assembler,
            outcome,
            model=self.model,
            with_reasoning=self.turn.store_reasoning,
            with_completion=self.turn.claim is not None,
        )
        await turn_settle(self.turn, reply)


async def turn_settle(turn: Turn, reply: Reply) -> None:
    """Store a streamed turn; on failure log it and release the key (a stream cannot
    report an error any more)."""
    try:
        await batched(turns_finish, (turn, reply))
    except Exception as error:
        if isinstance(error, APIError):
            logger.warning("Turn of %s not stored: %s", turn.conversation_id, error)
        else:
            logger.exception("Turn of %s not stored", turn.conversation_id)
        if turn.claim is not None:
            await claim_release(turn.claim)


async def claim_release(claim: int) -> None:
    """Release an Idempotency-Key claim, logging instead of raising (a clean-up)."""
    try:
        await coalesced(idempotency_release, claim=claim)
    except Exception:
        logger.exception("Idempotency claim %s not released", claim)
