"""End to end: the official openai SDK's Responses API against a real gateway."""

import time

import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseReasoningItem,
)

from inference.testing.fixtures import MODEL

pytestmark = pytest.mark.server


def fake(**options):
    return {"fake": {"tokens": 4, "delay_ms": 0, **options}}


def wait_until_finished(client, response_id: str) -> Response:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress"):
            return response
        time.sleep(0.02)
    raise AssertionError("the background response did not finish")


def test_create_retrieve_and_delete_a_text_response(live):
    """A response parses as the SDK's Response, is stored, and can be deleted."""
    client = live.openai()
    response = client.responses.create(
        model=MODEL, input="Hi", instructions="Be brief.", extra_body=fake()
    )
    assert isinstance(response, Response)
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert len(response.id) == 47
    message = response.output[0]
    assert isinstance(message, ResponseOutputMessage)
    assert message.id.startswith("msg_")
    assert message.content[0].annotations == []
    assert response.output_text
    assert response.usage.output_tokens == 4
    assert response.usage.total_tokens == (
        response.usage.input_tokens + response.usage.output_tokens
    )
    assert (response.instructions, response.store, response.background) == (
        "Be brief.",
        True,
        False,
    )
    sent = live.fake.recorder.last.body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert sent["fake"] == {"tokens": 4, "delay_ms": 0}
    assert client.responses.retrieve(response.id) == response
    assert client.responses.delete(response.id) is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_stream_typed_events(live):
    """The SDK parses every event; numbers increase by one; one terminal event."""
    client = live.openai()
    events = list(
        client.responses.create(
            model=MODEL, input="Hi", stream=True, extra_body=fake(tokens=3)
        )
    )
    types = [event.type for event in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert final.output_text == text == events[7].text
    assert client.responses.retrieve(final.id).status == "completed"


def test_stream_reasoning_events(live):
    client = live.openai()
    events = list(
        client.responses.create(
            model=MODEL,
            input="Hi",
            stream=True,
            reasoning={"effort": "low"},
            extra_body=fake(mode=["reasoning"], reasoning_tokens=2),
        )
    )
    types = [event.type for event in events]
    assert types.count("response.reasoning_text.delta") == 2
    assert "response.reasoning_text.done" in types
    final = events[-1].response
    reasoning, message = final.output
    assert isinstance(reasoning, ResponseReasoningItem)
    assert reasoning.content[0].type == "reasoning_text"
    assert isinstance(message, ResponseOutputMessage)


def test_previous_response_id_prepends_the_whole_chain(live):
    client = live.openai()
    first = client.responses.create(model=MODEL, input="One", extra_body=fake())
    second = client.responses.create(
        model=MODEL, input="Two", previous_response_id=first.id, extra_body=fake()
    )
    client.responses.create(
        model=MODEL, input="Three", previous_response_id=second.id, extra_body=fake()
    )
    messages = live.fake.recorder.last.body["messages"]
    assert messages == [
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "Two"},
        {"role": "assistant", "content": second.output_text},
        {"role": "user", "content": "Three"},
    ]
    assert second.previous_response_id == first.id


def test_conversation_context_and_appended_items(live):
    client = live.openai()
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "Earlier"}]
    )
    response = client.responses.create(
        model=MODEL, input="Now", conversation=conversation.id, extra_body=fake()
    )
    assert response.conversation.id == conversation.id
    assert live.fake.recorder.last.body["messages"] == [
        {"role": "user", "content": "Earlier"},
        {"role": "user", "content": "Now"},
    ]
    items = client.conversations.items.list(conversation.id, order="asc").data
    assert [item.type for item in items] == ["message"] * 3
    assert items[1].content[0].text == "Now"
    assert items[2].role == "assistant"
    assert items[2].content[0].text == response.output_text


def test_function_tool_round_trip(live):
    client = live.openai()
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    first = client.responses.create(
        model=MODEL,
        input="Weather in Paris?",
        tools=[tool],
        tool_choice="auto",
        extra_body=fake(mode=["tool_calls"]),
    )
    sent = live.fake.recorder.last.body
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city.",
                "parameters": tool["parameters"],
            },
        }
    ]
    assert sent["tool_choice"] == "auto"
    call = first.output[0]
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.name
    assert call.arguments
    assert call.call_id
    assert first.tools[0].name == "get_weather"
    client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[
            {"type": "function_call_output", "call_id": call.call_id, "output": "21C"}
        ],
        tools=[tool],
        extra_body=fake(),
    )
    messages = live.fake.recorder.last.body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ],
    }
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "21C",
    }


def test_background_poll_resume_and_input_items(live):
    client = live.openai()
    created = client.responses.create(
        model=MODEL, input="Hi", background=True, extra_body=fake(delay_ms=2)
    )
    assert created.status in ("queued", "in_progress")
    assert created.background is True
    done = wait_until_finished(client, created.id)
    assert done.status == "completed"
    assert done.output_text
    replayed = list(
        client.responses.retrieve(created.id, stream=True, starting_after=2)
    )
    assert replayed[0].sequence_number == 3
    numbers = [event.sequence_number for event in replayed]
    assert numbers == list(range(3, 3 + len(numbers)))
    assert replayed[-1].type == "response.completed"
    items = client.responses.input_items.list(created.id)
    assert [item.type for item in items.data] == ["message"]
    assert items.data[0].content[0].text == "Hi"


def test_background_cancel_with_the_sdk(live):
    client = live.openai()
    created = client.responses.create(
        model=MODEL,
        input="Hi",
        background=True,
        extra_body=fake(tokens=500, delay_ms=5),
    )
    cancelled = client.responses.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert wait_until_finished(client, created.id).status == "cancelled"
    assert client.responses.cancel(created.id).status == "cancelled"  # idempotent
