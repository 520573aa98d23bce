"""The upstream suite, conversations' half: conversation turns and the Responses API
through a real gateway, against each upstream (the fake vLLM, the local llama.cpp model,
JANSERVER_UPSTREAM_URL); inference/tests/test_upstream_suite.py has the rest.

Assertions hold for a real model: shapes, orders, statuses and what is stored, never
the text itself.
"""

import json
from typing import Any

import pytest

from conversations.models import Item
from inference.localmodel.bootstrap import QUESTION

pytestmark = [pytest.mark.server, pytest.mark.upstream]

PATH = "/v1/conv/chat/completions"
STORY = "Write a long story about a dragon who learns to fly."
TEXT_EVENTS_BEFORE = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
TEXT_EVENTS_AFTER = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def turn(upstream, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": upstream.upstream.model,
        "messages": [{"role": "user", "content": text}],
        "temperature": 0,
        "max_tokens": 40,
        "store": True,
        **upstream.upstream.steer(),
        **fields,
    }


def sse(content: bytes) -> list[Any]:
    """The data events of a stream: parsed JSON, or "[DONE]"."""
    events: list[Any] = []
    for event in content.split(b"\n\n"):
        if event.startswith(b"data: "):
            data = event[6:]
            events.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return events


def items_of(conversation_id: str) -> list[tuple[str, str, str]]:
    """(role, status, text) of a conversation's items, in order."""
    return [
        (item.role, item.status, "".join(part.get("text", "") for part in item.content))
        for item in Item.objects.filter(
            conversation__public_id=conversation_id
        ).order_by("position")
    ]


def assert_usage(
    upstream, usage, *, at_least: int = 1, exactly: int | None = None
) -> None:
    """A response's usage adds up; none when the upstream does not count streams
    (the Responses API streams from the upstream, and the gateway invents no usage)."""
    if not upstream.upstream.capabilities.stream_usage:
        assert usage is None
        return
    assert usage.input_tokens > 0
    assert usage.output_tokens >= at_least
    assert exactly is None or usage.output_tokens == exactly
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_conversation_turns_streamed_then_not(upstream):
    """A streamed first turn (metadata first, chunks, [DONE]) and a JSON second turn
    in the same conversation store four items, each reply as the client got it."""
    first = upstream.post(PATH, turn(upstream, QUESTION, stream=True))
    assert first.status_code == 200
    events = sse(first.content)
    metadata, *chunks, done = events
    assert done == "[DONE]"
    assert metadata["conversation_created"] is True
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] in ("stop", "length")
    assert all(reason is None for reason in finishes[:-1])
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    assert streamed.strip()
    conversation = metadata["conversation_id"]

    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": streamed},
        {"role": "user", "content": "Name another city."},
    ]
    second = upstream.post(
        PATH, turn(upstream, "", messages=history, conversation=conversation)
    )
    assert second.status_code == 200
    answer = second.json()
    assert answer["metadata"]["conversation_id"] == conversation
    assert answer["metadata"]["conversation_created"] is False
    reply = answer["choices"][0]["message"]["content"]
    assert reply.strip()
    assert items_of(conversation) == [
        ("user", "completed", QUESTION),
        ("assistant", "completed", streamed),
        ("user", "completed", "Name another city."),
        ("assistant", "completed", reply),
    ]
    if upstream.upstream.fake is not None:  # the client's history went upstream
        assert upstream.fake.recorder.last.body["messages"] == history


def test_a_turn_cut_by_max_tokens_is_stored_complete(upstream):
    """A reply that ends with `length` is still a completed turn, stored in full."""
    answer = upstream.post(
        PATH, turn(upstream, STORY, max_tokens=6, **upstream.upstream.steer(tokens=30))
    ).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 6
    assert items_of(answer["metadata"]["conversation_id"])[1] == (
        "assistant",
        "completed",
        choice["message"]["content"],
    )


def test_response_then_a_follow_up(upstream):
    """A stored text response (usage adds up), then one that continues it."""
    client = upstream.openai()
    model, steer = upstream.upstream.model, upstream.upstream.steer() or None
    first = client.responses.create(
        model=model, input=QUESTION, temperature=0, extra_body=steer
    )
    assert first.status == "completed"
    [message] = first.output
    assert (message.type, message.role, message.status) == (
        "message",
        "assistant",
        "completed",
    )
    assert first.output_text.strip()
    assert_usage(upstream, first.usage)
    second = client.responses.create(
        model=model,
        input="Name another city.",
        previous_response_id=first.id,
        temperature=0,
        extra_body=steer,
    )
    assert second.status == "completed"
    assert second.previous_response_id == first.id
    assert second.output_text.strip()
    if upstream.upstream.capabilities.stream_usage:  # the first turn went up too
        assert second.usage.input_tokens > first.usage.input_tokens
    assert client.responses.retrieve(second.id).output_text == second.output_text


def test_response_stream_typed_events(upstream):
    """Typed events in order, numbered from 0, one terminal event; the final response
    holds the streamed text and is stored as it."""
    client = upstream.openai()
    events = list(
        client.responses.create(
            model=upstream.upstream.model,
            input=QUESTION,
            temperature=0,
            stream=True,
            extra_body=upstream.upstream.steer() or None,
        )
    )
    types = [event.type for event in events]
    deltas = types.count("response.output_text.delta")
    assert deltas > 0
    assert types == [
        *TEXT_EVENTS_BEFORE,
        *["response.output_text.delta"] * deltas,
        *TEXT_EVENTS_AFTER,
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    final = events[-1].response
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert final.output_text == text
    assert final.status == "completed"
    assert_usage(upstream, final.usage, at_least=deltas)
    assert client.responses.retrieve(final.id).output_text == text


def test_response_cut_by_max_output_tokens_is_incomplete(upstream):
    """max_output_tokens reached: status incomplete, reason max_output_tokens,
    streamed (response.incomplete last) and not."""
    client = upstream.openai()
    arguments = {
        "model": upstream.upstream.model,
        "input": STORY,
        "temperature": 0,
        "max_output_tokens": 6,
        "extra_body": upstream.upstream.steer(tokens=30) or None,
    }
    response = client.responses.create(**arguments)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text
    assert_usage(upstream, response.usage, exactly=6)
    events = list(client.responses.create(**arguments, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
