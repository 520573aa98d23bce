"""Run a model step's server-side tool calls and say how they went, as OpenAI does.

Each call runs through the caller's toolbox (tools.registry: a ToolCall ledger row
for every call, cancelled ones included) within RESPONSES_TOOL_TIMEOUT_SECONDS, one
after the other in the order the model made them. A `web_search_call` item goes
searching -> completed (or ends `failed`), an `mcp_call` item in_progress ->
completed or failed, with its output or error. Whatever a tool or its server did, the
model gets a tool message saying it and its next turn. Heartbeats (None) are emitted
while a tool runs, so a silent stream stays open and a client that went away is
noticed (the call is then cancelled).
"""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from conversations.responses.events import Event, OutputBuilder, StepCall
from conversations.validation import text_max_chars
from tools.models import ToolOutcome
from tools.registry import Toolbox, UnknownTool
from tools.results import ToolResult, error_result

Emit = Callable[[Event | None], Awaitable[None]]
SOURCES_SHOWN = 10


def tool_time_limit() -> float:
    """Return the seconds one tool call of a response may take."""
    return float(settings.RESPONSES_TOOL_TIMEOUT_SECONDS)


def max_tool_steps() -> int:
    """Return how many rounds of tool calls one response may run."""
    return int(settings.RESPONSES_MAX_TOOL_STEPS)


def _arguments(text: str) -> Any:
    """The call's arguments as JSON; the raw text when it is not JSON (the toolbox
    then answers that the arguments are not an object)."""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:
        return text


async def _call(
    toolbox: Toolbox, step: StepCall, request_id: str, emit: Emit
) -> ToolResult:
    task = asyncio.ensure_future(
        toolbox.call(
            step.name,
            _arguments(step.arguments),
            request_id=request_id,
            channel="responses",
            time_limit=tool_time_limit(),
        )
    )
    try:
        while True:
            done, _ = await asyncio.wait(
                {task}, timeout=float(settings.SSE_HEARTBEAT_SECONDS)
            )
            if done:
                return task.result()
            await emit(None)
    except UnknownTool as unknown:
        return error_result(f"Unknown tool: {unknown.name}", ToolOutcome.UNAVAILABLE)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _action(
    step: StepCall, arguments: Any, result: ToolResult | None
) -> dict[str, Any]:
    arguments = arguments if isinstance(arguments, dict) else {}
    if step.server.remote_name == "scrape":
        return {"type": "open_page", "url": arguments.get("url")}
    action: dict[str, Any] = {"type": "search", "query": arguments.get("q")}
    data = result.data if result is not None else None
    organic = data.get("organic") if isinstance(data, dict) else None
    if isinstance(organic, list):
        links = [hit.get("link") for hit in organic if isinstance(hit, dict)]
        action["sources"] = [
            {"type": "url", "url": link}
            for link in links[:SOURCES_SHOWN]
            if isinstance(link, str)
        ]
    return action


async def _web_search(
    output: OutputBuilder, toolbox: Toolbox, step: StepCall, request_id: str, emit: Emit
) -> ToolResult:
    arguments = _arguments(step.arguments)
    output.items[step.position]["action"] = _action(step, arguments, None)
    await emit(output.progress_event(step, "searching"))
    result = await _call(toolbox, step, request_id, emit)
    action = _action(step, arguments, result)
    if result.is_error:
        await emit(output.item_done(step, status="failed", action=action))
    else:
        await emit(output.progress_event(step, "completed"))
        await emit(output.item_done(step, status="completed", action=action))
    return result


async def _mcp(
    output: OutputBuilder, toolbox: Toolbox, step: StepCall, request_id: str, emit: Emit
) -> ToolResult:
    await emit(output.progress_event(step, "in_progress"))
    result = await _call(toolbox, step, request_id, emit)
    if result.is_error:
        error = {"type": "mcp_tool_execution_error", "content": result.content}
        await emit(output.progress_event(step, "failed"))
        await emit(output.item_done(step, status="failed", error=error))
    else:
        await emit(output.progress_event(step, "completed"))
        # The model reads all of it; the item keeps what a conversation item holds.
        shown = result.text[: text_max_chars()]
        await emit(output.item_done(step, status="completed", output=shown))
    return result


async def calls_run(
    output: OutputBuilder,
    toolbox: Toolbox,
    calls: list[StepCall],
    *,
    request_id: str,
    emit: Emit,
) -> list[dict[str, Any]]:
    """Run the server-side `calls` of a step in order, emitting their events; return
    the chat `tool` messages of their results."""
    messages = []
    for step in calls:
        run = _web_search if step.server.kind == "web_search_call" else _mcp
        result = await run(output, toolbox, step, request_id, emit)
        messages.append(
            {"role": "tool", "tool_call_id": step.call_id, "content": result.text}
        )
    return messages


def limit_message(limit: int) -> str:
    """What the model is told of a call it made past the response's max_tool_calls."""
    return (
        f"Not run: this response may make at most {limit} tool call(s) "
        "(max_tool_calls) and has made them. Answer with what you have."
    )


async def calls_ignore(
    output: OutputBuilder, calls: list[StepCall], *, limit: int, emit: Emit
) -> list[dict[str, Any]]:
    """End the server-side `calls` made past max_tool_calls without running them:
    each item ends `incomplete` (its output_item.done), and the model gets a tool
    message saying the limit was reached; return those messages."""
    messages = []
    for step in calls:
        changes: dict[str, Any] = {"status": "incomplete"}
        if step.server.kind == "web_search_call":
            changes["action"] = _action(step, _arguments(step.arguments), None)
        await emit(output.item_done(step, **changes))
        messages.append(
            {
                "role": "tool",
                "tool_call_id": step.call_id,
                "content": limit_message(limit),
            }
        )
    return messages


def step_messages(
    content: str, calls: list[StepCall], results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The chat messages a step adds to the next step's request: the assistant's
    message with its tool calls, then the tool results."""
    assistant = {
        "role": "assistant",
        "content": content or None,
        "tool_calls": [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ],
    }
    return [assistant, *results]
