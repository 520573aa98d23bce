"""Serve `POST /v1/responses`: validate, build the context, then run in one of three modes.

The pipeline's steps (inference.pipeline) with the Responses API's own in between.
Everything that can fail before the stream starts is an HTTP error: validation, the
model (unknown or foreign: 404), the previous response or conversation (404), and —
for a response answered in the foreground — the upstream refusing or failing before
its first byte (the pipeline's failover). A background response is stored `queued`,
answered at once, and generated in this worker's event loop (janserver.background).
"""

import functools
import json
from dataclasses import dataclass, replace
from typing import Any

from django.utils import timezone

from conversations.models import Conversation, Response, ResponseStatus
from conversations.responses import buffer, runner, selectors, services, tooling
from conversations.responses.messages import chat_messages
from conversations.responses.objects import Record, item_with_id
from conversations.responses.requests import ResponseRequest, request_parse
from conversations.selectors import PROJECT_HEADER, Caller, caller_get
from inference import pipeline
from inference.accounting import Accounting, status_for
from inference.catalog import ModelEntry
from inference.payloads import CHAT, InferenceRequest, parse
from inference.pipeline import Call
from janserver import background, db
from janserver.errors import APIError, InternalError, InvalidRequest
from janserver.ids import new_response_id
from janserver.principal import Principal


@dataclass
class Context:
    """What a new response continues: history items, instructions, stored links."""

    items: list[dict[str, Any]]
    instructions: str | None
    previous: Response | None = None
    conversation: Conversation | None = None
    sticky_key: str | None = None


@dataclass
class Prepared:
    principal: Principal
    caller: Caller
    request: ResponseRequest
    entry: ModelEntry
    context: Context
    record: Record
    payload: InferenceRequest
    account: Accounting
    call: Call | None = None
    tools: tooling.ToolSet | None = None


def _context(caller: Caller, request: ResponseRequest) -> Context:
    instructions = request.instructions
    if request.previous_response_id:
        previous, items, root = selectors.response_history(
            caller=caller, public_id=request.previous_response_id
        )
        return Context(items, instructions, previous=previous, sticky_key=root)
    if request.conversation_id:
        conversation, items, instruction = selectors.conversation_context(
            caller=caller, public_id=request.conversation_id
        )
        joined = "\n\n".join(text for text in (instruction, instructions) if text)
        return Context(
            items,
            joined or None,
            conversation=conversation,
            sticky_key=conversation.public_id,
        )
    return Context([], instructions)


def _check_tokens(request: ResponseRequest, entry: ModelEntry) -> None:
    limit = request.parameters.get("max_output_tokens")
    if limit is not None and entry.context_length and limit > entry.context_length:
        raise InvalidRequest(
            f"`max_output_tokens` ({limit}) is larger than the model's context "
            f"length ({entry.context_length}).",
            param="max_output_tokens",
        )


def _payload(
    request: ResponseRequest,
    context: Context,
    record: Record,
    tools: tooling.ToolSet,
) -> InferenceRequest:
    messages = chat_messages(
        context.items + record.input_items, instructions=context.instructions
    )
    chat = {
        key: value
        for key, value in request.chat.items()
        if key not in ("tools", "tool_choice")
    }
    offer = tooling.chat_offer(
        request.chat, request.parameters.get("tool_choice"), tools
    )
    body = {
        **chat,
        **offer,
        "model": request.model,
        "messages": messages,
        "stream": True,
    }
    payload = parse(json.dumps(body).encode(), CHAT)
    return replace(payload, sticky_key=context.sticky_key or payload.sticky_key)


def _record(request: ResponseRequest, context: Context) -> Record:
    return Record(
        public_id=new_response_id(),
        created_at=int(timezone.now().timestamp()),
        model=request.model,
        status=ResponseStatus.QUEUED
        if request.background
        else ResponseStatus.IN_PROGRESS,
        background=request.background,
        store=request.store,
        instructions=request.instructions,
        parameters=request.parameters,
        metadata=request.metadata,
        input_items=[item_with_id(item) for item in request.input_items],
        previous_response_id=request.previous_response_id,
        conversation_id=context.conversation.public_id
        if context.conversation
        else None,
    )


async def prepare(call: Call) -> Prepared:
    """Validate a create request; build its record and chat payload."""
    request = request_parse(call.body)
    caller = await db.run(
        caller_get,
        principal=call.principal,
        project_public_id=call.headers.get(PROJECT_HEADER),
    )
    entry = await pipeline.model_for(call.principal, request.model)
    _check_tokens(request, entry)
    context = await db.run(_context, caller, request)
    tools = await tooling.toolset_resolve(
        call.principal, request.parameters.get("tools") or []
    )
    record = _record(request, context)
    payload = _payload(request, context, record, tools)
    account = await pipeline.admit(call, payload, "responses", stream=request.stream)
    return Prepared(
        call.principal,
        caller,
        request,
        entry,
        context,
        record,
        payload,
        account,
        call=call,
        tools=tools,
    )


async def _store(prepared: Prepared) -> None:
    if not prepared.record.store:
        return
    await db.run(
        services.response_create,
        caller=prepared.caller,
        record=prepared.record,
        api_key_id=prepared.principal.api_key_id,
        previous=prepared.context.previous,
        conversation=prepared.context.conversation,
    )


def _run(prepared: Prepared) -> runner.Run:
    conversation = prepared.context.conversation
    return runner.Run(
        record=prepared.record,
        payload=prepared.payload,
        entry=prepared.entry,
        account=prepared.account,
        conversation_id=conversation.pk if conversation else None,
        call=prepared.call,
        tools=prepared.tools or tooling.ToolSet(),
    )


async def start_foreground(prepared: Prepared) -> runner.Run:
    """Open the upstream (errors are HTTP errors), store the response, return its run."""
    opened = await pipeline.open_upstream(
        prepared.payload, prepared.entry, prepared.account
    )
    try:
        await _store(prepared)
    except BaseException:
        await opened.stream.aclose()
        prepared.account.finish(status=status_for(500), http_status=500)
        raise
    run = _run(prepared)
    run.opened = opened.stream
    return run


async def start_background(prepared: Prepared) -> runner.Run:
    """Store the queued response and start generating it in this event loop.

    Its events go to the shared buffer: unreachable (Redis down), the create answers
    503 rather than leaving a response nobody can follow.
    """
    events = buffer.event_buffer()
    try:
        await events.exists(prepared.record.public_id)
        await _store(prepared)
    except BaseException as error:
        status = error.status if isinstance(error, APIError) else 500
        prepared.account.finish(status=status_for(status), http_status=status)
        raise
    run = _run(prepared)
    run.publish = functools.partial(events.append, prepared.record.public_id)
    background.spawn(runner.run_in_background(run), name="response-background")
    return run


async def run_to_end(run: runner.Run) -> dict[str, Any]:
    """Generate a foreground response fully; return the final response object."""
    events: list[dict[str, Any]] = []

    async def keep(event: dict[str, Any] | None) -> None:
        if event is not None:
            events[:] = [event]

    await runner.execute(run, keep)
    if not events:  # execute() always ends with a terminal event
        raise InternalError()
    return events[0]["response"]
