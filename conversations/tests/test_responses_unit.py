"""Units of the Responses API: request translation, messages, events, buffer, shutdown."""

import asyncio
import json

import pytest
from django.test import RequestFactory
from django.utils import timezone

from conversations.models import Response, ResponseStatus
from conversations.responses import create, services
from conversations.responses.buffer import MemoryBuffer
from conversations.responses.events import OutputBuilder, Sequencer, sse
from conversations.responses.messages import chat_messages
from conversations.responses.objects import Record, record_from_row, usage_object
from conversations.responses.requests import request_parse
from conversations.responses.tooling import ServerTool
from conversations.selectors import Caller
from inference import pipeline, upstream
from inference.assembly import Delta, ToolCallDelta
from inference.testing.fixtures import MODEL
from janserver import background, db
from janserver.errors import InvalidRequest


def parsed(**fields):
    return request_parse(json.dumps({"model": "m", "input": "Hi", **fields}).encode())


def test_request_accepts_both_function_tool_shapes_and_server_tools():
    chat_shaped = {
        "type": "function",
        "function": {"name": "google_search", "parameters": {"type": "object"}},
    }
    request = parsed(
        tools=[
            chat_shaped,
            {"type": "web_search"},
            {"type": "mcp", "server_label": "crm", "allowed_tools": ["lookup"]},
        ]
    )
    assert request.parameters["tools"] == [
        {
            "type": "function",
            "name": "google_search",
            "description": None,
            "parameters": {"type": "object"},
            "strict": None,
        },
        {
            "type": "web_search",
            "filters": None,
            "search_context_size": "medium",
            "user_location": None,
        },
        {
            "type": "mcp",
            "server_label": "crm",
            "allowed_tools": ["lookup"],
            "require_approval": "never",
            "server_description": None,
        },
    ]
    assert request.chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "google_search", "parameters": {"type": "object"}},
        }
    ]


def test_request_translates_options_and_passes_unknown_fields_through():
    request = parsed(
        tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "f"},
        text={"format": {"type": "json_object"}},
        max_output_tokens=7,
        top_k=3,
        chat_template="evil",
        messages=[{"role": "user", "content": "smuggled"}],
    )
    assert request.chat == {
        "top_k": 3,
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}},
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_object"},
        "max_tokens": 7,
    }
    assert request.input_items == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hi"}],
            "status": "completed",
        }
    ]
    assert request.parameters["tool_choice"] == {"type": "function", "name": "f"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"prompt": {"id": "p"}}, "prompt"),
        ({"conversation": 5}, "conversation"),
        (
            {"text": {"format": {"type": "json_schema", "name": "x"}}},
            "text.format.schema",
        ),
        (
            {"tools": [{"type": "function", "name": "f", "strict": "yes"}]},
            "tools[0].strict",
        ),
        ({"instructions": 5}, "instructions"),
    ],
)
def test_request_refusals(fields, param):
    with pytest.raises(InvalidRequest) as raised:
        parsed(**fields)
    assert raised.value.param == param


def test_chat_messages_keep_images_and_merge_tool_calls():
    image = {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"}
    text = {"type": "input_text", "text": "What?"}
    items = [
        {"type": "message", "role": "user", "content": [text, image]},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "1"},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "2"},
    ]
    messages = chat_messages(items, instructions="Sys")
    assert messages[0] == {"role": "system", "content": "Sys"}
    assert messages[1]["content"] == [
        {"type": "text", "text": "What?"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
    ]
    assert [call["id"] for call in messages[2]["tool_calls"]] == ["a", "b"]


def test_output_builder_orders_items_and_events():
    builder = OutputBuilder(Sequencer())
    events = builder.feed(Delta(reasoning="Hmm"))
    events += builder.feed(Delta(content="Yes"))
    events += builder.feed(
        Delta(tool_calls=[ToolCallDelta(index=0, id="c", name="f", arguments="{")])
    )
    events += builder.feed(Delta(tool_calls=[ToolCallDelta(0, "", "", "}")]))
    events += builder.close("completed")
    assert [e["type"] for e in events] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ]
    assert [e["sequence_number"] for e in events] == list(range(17))
    reasoning, message, call = builder.items
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "Hmm"}]
    assert message["content"][0]["text"] == "Yes"
    assert (call["call_id"], call["arguments"], call["status"]) == (
        "c",
        "{}",
        "completed",
    )
    assert events[0]["item"]["content"] == []  # added before its part
    assert sse(events[0]).startswith(b"event: response.output_item.added\ndata: {")


def _server_tools(name):
    tools = {
        "google_search": ServerTool(
            "google_search", "web_search_call", "builtin", "google_search"
        ),
        "crm__lookup": ServerTool("crm__lookup", "mcp_call", "crm", "lookup"),
    }
    return tools.get(name)


def test_output_builder_opens_server_call_items():
    """Server-run calls open web_search_call / mcp_call items; an interrupted run
    drops the unfinished ones, the step limit closes them incomplete."""
    builder = OutputBuilder(Sequencer(), _server_tools)
    events = builder.feed(
        Delta(tool_calls=[ToolCallDelta(0, "a", "google_search", '{"q": "x"}')])
    )
    events += builder.feed(
        Delta(tool_calls=[ToolCallDelta(1, "b", "crm__lookup", '{"id": 1}')])
    )
    events += builder.close("completed")
    assert [e["type"] for e in events] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.output_item.added",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
    ]
    search, call = builder.items
    assert search == {
        "id": search["id"],
        "status": "in_progress",
        "type": "web_search_call",
        "action": {"type": "search"},
    }
    assert (call["server_label"], call["name"], call["arguments"]) == (
        "crm",
        "lookup",
        '{"id": 1}',
    )
    assert [(step.call_id, step.arguments) for step in builder.step_calls] == [
        ("a", '{"q": "x"}'),
        ("b", '{"id": 1}'),
    ]
    closed = builder.unfinished_settle(drop=False)
    assert [e["item"]["status"] for e in closed] == ["incomplete", "incomplete"]
    dropping = OutputBuilder(Sequencer(), _server_tools)
    dropping.feed(Delta(content="Looking."))
    dropping.feed(Delta(tool_calls=[ToolCallDelta(0, "a", "crm__lookup", "{}")]))
    dropping.close("completed")
    assert dropping.unfinished_settle(drop=True) == []
    assert [item["type"] for item in dropping.items] == ["message"]


def test_chat_messages_send_mcp_calls_back_as_calls_and_results():
    items = [
        {"type": "mcp_list_tools", "server_label": "crm", "tools": []},
        {"type": "web_search_call", "action": {"type": "search", "query": "q"}},
        {
            "type": "mcp_call",
            "id": "mcp_1",
            "server_label": "crm",
            "name": "lookup",
            "arguments": "{}",
            "output": "found",
        },
        {
            "type": "mcp_call",
            "id": "mcp_2",
            "server_label": "crm",
            "name": "lookup",
            "arguments": "{}",
            "output": None,
            "error": {"type": "mcp_tool_execution_error", "content": []},
        },
    ]
    messages = chat_messages(items)
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant", "tool"]
    assert messages[0]["tool_calls"][0]["function"] == {
        "name": "crm__lookup",
        "arguments": "{}",
    }
    assert messages[1] == {"role": "tool", "tool_call_id": "mcp_1", "content": "found"}
    assert messages[3]["content"].startswith("The tool failed:")


def test_usage_object_maps_chat_usage():
    usage = {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
        "prompt_tokens_details": {"cached_tokens": 2},
    }
    assert usage_object(usage) == {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 8,
    }
    assert usage_object(None) is None


def test_memory_buffer_replays_and_waits_for_new_events():
    async def scenario() -> tuple[list, list, list]:
        buffer = MemoryBuffer()
        await buffer.append("r", {"type": "a", "sequence_number": 0})
        first = await buffer.read("r", -1, 0.01)
        waiting = asyncio.ensure_future(buffer.read("r", 0, 5))
        await asyncio.sleep(0.01)
        await buffer.append("r", {"type": "b", "sequence_number": 1})
        return first, await waiting, await buffer.read("r", 1, 0.01)

    first, second, none = asyncio.run(scenario())
    assert [e["sequence_number"] for e in first] == [0]
    assert [e["sequence_number"] for e in second] == [1]
    assert none == []


def test_shutdown_drain_fails_a_running_background_response(live):
    """The lifespan drain cancels what still runs: the response is stored `failed`
    with its partial output, never left in progress."""
    http = RequestFactory().post(
        "/v1/responses",
        data={
            "model": MODEL,
            "input": "Hi",
            "background": True,
            "fake": {"tokens": 5000, "delay_ms": 2},
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {live.secret}"},
    )
    http.request_id = "req_test"

    async def status_of(public_id: str) -> str:
        return await db.run(lambda: Response.objects.get(public_id=public_id).status)

    async def scenario() -> str:
        prepared = await create.prepare(await pipeline.enter(http, "responses"))
        await create.start_background(prepared)
        public_id = prepared.record.public_id
        for _ in range(500):
            if await status_of(public_id) == "in_progress":
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert await background.drain(0.01) == 1
        for _ in range(500):
            if await status_of(public_id) != "in_progress":
                break
            await asyncio.sleep(0.01)
        await upstream.aclose()
        return public_id

    public_id = asyncio.run(scenario())
    row = Response.objects.get(public_id=public_id)
    assert row.status == "failed"
    assert row.error["message"] == "The server stopped before the response finished."
    assert row.output[0]["content"][0]["text"]


def test_tool_choice_in_the_chat_shape_is_read_as_the_flat_one():
    request = parsed(
        tools=[{"type": "function", "name": "f"}],
        tool_choice={"type": "function", "function": {"name": "f"}},
    )
    assert request.parameters["tool_choice"] == {"type": "function", "name": "f"}
    assert request.chat["tool_choice"] == {
        "type": "function",
        "function": {"name": "f"},
    }


@pytest.mark.parametrize(
    ("choice", "echoed"),
    [
        ({"type": "web_search_preview"}, {"type": "web_search_preview"}),
        (
            {"type": "mcp", "server_label": "s"},
            {"type": "mcp", "server_label": "s", "name": None},
        ),
        (
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "mcp", "server_label": "s"}],
            },
            {
                "type": "allowed_tools",
                "mode": "auto",
                "tools": [{"type": "mcp", "server_label": "s", "name": None}],
            },
        ),
    ],
)
def test_server_tool_choices_are_echoed_and_mapped_once_resolved(choice, echoed):
    request = parsed(
        tools=[{"type": "web_search_preview"}, {"type": "mcp", "server_label": "s"}],
        tool_choice=choice,
        max_tool_calls=3,
    )
    assert request.parameters["tool_choice"] == echoed
    assert request.parameters["max_tool_calls"] == 3
    assert "tool_choice" not in request.chat


def test_a_stored_response_keeps_the_seconds_its_live_answer_gave(project, user):
    """The row's own clock reading can fall in the next second; a retrieve must answer
    the created_at and completed_at the client was given."""
    created = int(timezone.now().timestamp()) - 5
    record = Record(
        public_id="resp_" + "a" * 42,
        created_at=created,
        model=MODEL,
        status=ResponseStatus.IN_PROGRESS,
    )
    caller = Caller(user=user, via_key=True, project_id=project.pk)
    services.response_create(caller=caller, record=record, api_key_id=None)
    record.status, record.completed_at = ResponseStatus.COMPLETED, created + 2
    services.response_finish(record=record)
    row = Response.objects.get(public_id=record.public_id)
    stored = record_from_row(row)
    assert (stored.created_at, stored.completed_at) == (created, created + 2)
