"""Serving one conversation-aware chat completion: check, resolve, relay, store.

The same pipeline as /v1/chat/completions (inference.pipeline: model lookup,
failover, usage record; inference.gateway: the stream relay), with the turn's
conversation resolved before the upstream call and its items stored after the answer.
"""

import asyncio
import functools
import json
from typing import Any

from conversations.completions.batching import READ, WRITE, batched, coalesced
from conversations.completions.bulk import turns_finish
from conversations.completions.idempotency import Replay
from conversations.completions.observer import TurnObserver, claim_release
from conversations.completions.replay import replay_answer
from conversations.completions.requests import (
    TurnRequest,
    idempotency_key_get,
    turn_request_parse,
    with_instruction,
)
from conversations.completions.services import Reply, Turn, turn_begin
from conversations.selectors import PROJECT_HEADER, conversation_cached
from inference import gateway, pipeline
from inference.assembly import ChatAssembler
from inference.catalog import ModelEntry
from inference.payloads import CHAT, check_context
from inference.pipeline import Call
from janserver import background
from janserver.http.answers import Answer
from janserver.principal import Principal, PrincipalKind

REASONING_FIELDS = ("reasoning_content", "reasoning")


async def turn_respond(call: Call) -> Answer:
    """Answer one request (see the module docstring); a retry of a finished request
    with the same Idempotency-Key gets the stored answer instead."""
    key = idempotency_key_get(call.headers)
    parsed = turn_request_parse(call.body, hashed=key is not None)
    entry = await pipeline.model_for(call.principal, parsed.payload.model)
    check_context(parsed.payload, entry.context_length)
    project = call.headers.get(PROJECT_HEADER)
    begun = await _begin(call.principal, project, parsed, key)
    if isinstance(begun, Replay):
        payload = parsed.payload
        return replay_answer(
            begun.result, stream=payload.stream, wants_usage=payload.wants_usage
        )
    return await _guarded(call, begun, parsed, entry)


async def _begin(
    principal: Principal, project: str | None, parsed: TurnRequest, key: str | None
) -> Turn | Replay:
    """Run turn_begin: in the event loop when it reads nothing (no key, a
    conversation cached or none, and a caller known from the credential alone:
    caller_get reads a project only for a login user naming one), else in a shared
    database hop."""
    begin = functools.partial(
        turn_begin,
        principal=principal,
        project_public_id=project,
        request=parsed,
        idempotency_key=key,
    )
    cached = parsed.conversation_id is None or conversation_cached(
        public_id=parsed.conversation_id
    )
    if key is None and cached and (principal.kind != PrincipalKind.USER or not project):
        return begin()
    # Without a key to claim, beginning a turn only reads.
    lane = READ if key is None else WRITE
    return await coalesced(begin, orphan=_orphaned, lane=lane)


def _orphaned(begun: Turn | Replay) -> None:
    """The client went away before the turn was stored: release its key's claim (in
    a task of its own, as the caller is being cancelled)."""
    if isinstance(begun, Turn) and begun.claim is not None:
        background.spawn(claim_release(begun.claim), name="idempotency-release")


async def _guarded(
    call: Call, turn: Turn, parsed: TurnRequest, entry: ModelEntry
) -> Answer:
    """Relay the turn; a failure before it was stored releases the key."""
    try:
        return await _relay(call, turn, parsed, entry)
    except asyncio.CancelledError:  # the client went away: release after this task
        _orphaned(turn)
        raise
    except Exception:
        if turn.claim is not None:
            await claim_release(turn.claim)
        raise


async def _relay(
    call: Call, turn: Turn, parsed: TurnRequest, entry: ModelEntry
) -> Answer:
    payload = with_instruction(
        parsed.payload, instruction=turn.instruction, sticky_key=turn.conversation_id
    )
    account = await pipeline.admit(call, payload, CHAT.name)
    opened = await pipeline.open_upstream(payload, entry, account)
    if payload.stream:
        observer = TurnObserver(turn, model=payload.model)
        return Answer(
            pump=gateway.stream_pump(opened, payload, observer),
            headers=account.limit_headers,
        )
    _body, data = await gateway.read_json(opened.stream, opened.account)
    if turn.store or turn.claim is not None:
        reply = json_reply(data, turn.store_reasoning)
        await batched(turns_finish, (turn, reply))
    data["metadata"] = turn.metadata()
    return Answer(
        body=json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(),
        headers=account.limit_headers,
    )


def _without_reasoning(completion: dict[str, Any]) -> dict[str, Any]:
    choices = []
    for choice in completion.get("choices") or []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            kept = {k: v for k, v in message.items() if k not in REASONING_FIELDS}
            choice = {**choice, "message": kept}
        choices.append(choice)
    return {**completion, "choices": choices}


def json_reply(completion: dict[str, Any], with_reasoning: bool) -> Reply:
    """Return the Reply of a whole (non-stream) chat.completion."""
    assembler = ChatAssembler()
    assembler.feed_completion(completion)
    kept = completion if with_reasoning else _without_reasoning(completion)
    return Reply(message=assembler.message(), complete=True, completion=kept)
