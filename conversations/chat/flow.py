"""Serving /v1/chat/completions: plain, or keeping a conversation turn and/or a
stored completion.

A plain request (neither `conversation` nor `store` in the body) goes straight to
inference.gateway as before. One that keeps something takes the same pipeline
(model, admission under the rate limits, failover, usage record, the one relay
loop), with the conversation's history read before the upstream call; what it keeps
is written after the answer, off the relay's per-chunk path (which only collects
the stream's bytes), in the shared database hops of conversations.completions.
"""

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from conversations.chat.requests import (
    ChatRequest,
    chat_request_parse,
    kept_fields_present,
)
from conversations.chat.services import ChatBegun, chat_begin, stored_completion_keep
from conversations.completions.batching import READ, batched, coalesced
from conversations.completions.bulk import turns_finish
from conversations.completions.flow import json_reply
from conversations.completions.observer import completion_id, stream_reply, turn_settle
from conversations.completions.services import Reply
from conversations.selectors import PROJECT_HEADER
from inference import gateway, pipeline
from inference.collecting import CollectingAssembler
from inference.gateway import StreamOutcome
from inference.payloads import CHAT, check_context, parse
from inference.pipeline import Call
from janserver.http.answers import Answer
from janserver.principal import PrincipalKind

logger = logging.getLogger("janserver.conversations")


async def chat_respond(call: Call) -> Answer:
    """Answer one /v1/chat/completions request (see the module docstring)."""
    payload = parse(call.body, CHAT)
    if not kept_fields_present(payload.body):
        return await gateway.respond(call, payload)
    request = chat_request_parse(payload)
    if request is None:
        return await gateway.respond(call, payload)
    return await _respond_kept(call, request)


async def _begin(call: Call, request: ChatRequest) -> ChatBegun:
    """Run chat_begin: in the event loop when it reads nothing (no conversation, and
    a caller known from the credential alone), else in a shared read hop."""
    project = call.headers.get(PROJECT_HEADER)
    begin = functools.partial(
        chat_begin,
        principal=call.principal,
        project_public_id=project,
        request=request,
    )
    if request.conversation_id is None and (
        call.principal.kind != PrincipalKind.USER or not project
    ):
        return begin()
    begun: ChatBegun = await coalesced(begin, lane=READ)
    return begun


async def _respond_kept(call: Call, request: ChatRequest) -> Answer:
    entry = await pipeline.model_for(call.principal, request.payload.model)
    check_context(request.payload, entry.context_length)
    begun = await _begin(call, request)
    payload = begun.payload
    account = await pipeline.admit(call, payload, CHAT.name)
    opened = await pipeline.open_upstream(payload, entry, account)
    if payload.stream:
        observer = ChatObserver(begun)
        return Answer(
            pump=gateway.stream_pump(opened, payload, observer),
            headers=account.limit_headers,
        )
    _body, data = await gateway.read_json(opened.stream, opened.account)
    await _keep_json(begun, data)
    conversation = begun.conversation()
    if conversation is not None:
        data["conversation"] = conversation
    return Answer(
        body=json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode(),
        headers=account.limit_headers,
    )


async def _keep_json(begun: ChatBegun, data: dict[str, Any]) -> None:
    """Store a whole answer's turn (failing the request as the conversation route
    does) and its completion (a failure logged: the answer stands)."""
    if begun.turn is not None:
        reply = json_reply(data, begun.turn.store_reasoning)
        await batched(turns_finish, (begun.turn, reply))
    if begun.request.store:
        if begun.store_kwargs(data) is None:
            data["id"] = completion_id()  # the client gets the id it is kept under
        await _store(begun, data)


async def _store(begun: ChatBegun, completion: dict[str, Any]) -> None:
    try:
        await coalesced(stored_completion_keep, begun=begun, completion=completion)
    except Exception:
        logger.exception("Chat completion %r not stored", completion.get("id"))


def conversation_chunk(
    conversation: dict[str, Any], *, completion: str | None, model: str
) -> bytes:
    """Return the stream's last chunk, before [DONE]: Jan's `conversation` object in
    a chunk without choices (like the usage chunk)."""
    chunk = {
        "id": completion or completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "conversation": conversation,
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class ChatObserver:
    """The StreamObserver of a kept chat stream: collects its bytes, closes it with
    the conversation chunk, keeps the turn and the completion at the end."""

    def __init__(self, begun: ChatBegun) -> None:
        self.begun = begun
        self.assembler = CollectingAssembler()
        self.suffix: Callable[[], bytes] | None = (
            self._closing if begun.turn is not None else None
        )

    def prefix(self) -> bytes:
        return b""

    def _closing(self) -> bytes:
        conversation = self.begun.conversation() or {}
        return conversation_chunk(
            conversation,
            completion=self.assembler.completion_id,
            model=self.begun.payload.model,
        )

    def feed(self, events: bytes) -> None:
        self.assembler.collect(events)

    async def finish(self, outcome: StreamOutcome) -> None:
        begun = self.begun
        reply: Reply = stream_reply(
            self.assembler,
            outcome,
            model=begun.payload.model,
            with_reasoning=True,
            with_completion=begun.request.store,
        )
        if begun.turn is not None:
            await turn_settle(begun.turn, reply)
        if begun.request.store and reply.complete:
            await _store(begun, reply.completion)
