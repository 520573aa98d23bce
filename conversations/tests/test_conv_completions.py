"""POST /v1/conv/chat/completions end to end: the turn relayed, then stored as items."""

import json
import time
from typing import Any

import httpx
import openai
import pytest

from conversations.models import Conversation, Item
from conversations.tests.factories import ConversationFactory, WorkspaceFactory
from inference.testing.fixtures import MODEL

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PATH = "/v1/conv/chat/completions"
METADATA_KEYS = {
    "conversation_id",
    "conversation_created",
    "conversation_title",
    "ask_item_id",
    "completion_item_id",
    "store",
    "store_reasoning",
}


def chat(text: str = "Hi", **fields) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **fields}


def events(response: httpx.Response) -> list[Any]:
    """The SSE events of a response: parsed JSON, or "[DONE]"."""
    parsed: list[Any] = []
    for event in response.content.split(b"\n\n"):
        if event.startswith(b"data: "):
            data = event[6:]
            parsed.append("[DONE]" if data == b"[DONE]" else json.loads(data))
    return parsed


def streamed_text(parsed: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for event in parsed
        if isinstance(event, dict)
        for choice in event.get("choices", [])
    )


def items_of(conversation_id: str) -> list[Item]:
    return list(
        Item.objects.filter(conversation__public_id=conversation_id).order_by(
            "position"
        )
    )


def wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def conversation_of(live, **fields) -> Conversation:
    """A conversation in the live key's project."""
    return ConversationFactory(project=live.project, **fields)


def test_stream_sends_the_metadata_first_and_stores_the_turn(live):
    """A first event names the new conversation and both items; both are stored."""
    response = live.post(PATH, chat("What is up?", stream=True, store=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    parsed = events(response)
    metadata = parsed[0]
    assert set(metadata) == METADATA_KEYS
    assert metadata["conversation_created"] is True
    assert metadata["conversation_title"] == "What is up?"
    assert (metadata["store"], metadata["store_reasoning"]) == (True, False)
    assert parsed[-1] == "[DONE]"
    assert parsed[1]["object"] == "chat.completion.chunk"
    conversation = Conversation.objects.get(public_id=metadata["conversation_id"])
    assert conversation.project_id == live.project.pk
    assert conversation.title == "What is up?"
    ask, reply = items_of(conversation.public_id)
    assert (ask.public_id, ask.role, ask.status) == (
        metadata["ask_item_id"],
        "user",
        "completed",
    )
    assert ask.content == [{"type": "input_text", "text": "What is up?"}]
    assert (reply.public_id, reply.role, reply.status) == (
        metadata["completion_item_id"],
        "assistant",
        "completed",
    )
    assert reply.content == [
        {
            "type": "output_text",
            "text": streamed_text(parsed),
            "annotations": [],
            "logprobs": [],
        }
    ]


def test_non_stream_adds_metadata_and_stores_the_turn(live):
    response = live.post(PATH, chat("Hello there", store=True))
    assert response.status_code == 200
    completion = response.json()
    assert completion["object"] == "chat.completion"
    metadata = completion["metadata"]
    assert set(metadata) == METADATA_KEYS
    assert metadata["conversation_created"] is True
    ask, reply = items_of(metadata["conversation_id"])
    assert ask.public_id == metadata["ask_item_id"]
    assert reply.public_id == metadata["completion_item_id"]
    assert reply.content[0]["text"] == completion["choices"][0]["message"]["content"]


def test_jan_fields_are_not_sent_upstream(live):
    conversation = conversation_of(live)
    body = chat(stream=True, store=True, store_reasoning=True, top_k=5)
    body["conversation"] = conversation.public_id
    assert live.post(PATH, body).status_code == 200
    sent = live.fake.recorder.last.body
    assert not {"conversation", "store", "store_reasoning"} & set(sent)
    assert sent["top_k"] == 5
    assert sent["stream_options"] == {"include_usage": True}


def test_an_existing_conversation_gets_the_turn_appended(live):
    """Items go after the existing ones; the title is kept; nothing is created."""
    conversation = conversation_of(live, title="Kept title")
    first = live.post(
        PATH, chat("One", store=True, conversation=conversation.public_id)
    ).json()["metadata"]
    second = live.post(
        PATH, chat("Two", store=True, conversation=conversation.public_id)
    ).json()["metadata"]
    assert first["conversation_id"] == second["conversation_id"]
    assert conversation.public_id == first["conversation_id"]
    assert (first["conversation_created"], first["conversation_title"]) == (
        False,
        "Kept title",
    )
    stored = items_of(conversation.public_id)
    assert [item.public_id for item in stored] == [
        first["ask_item_id"],
        first["completion_item_id"],
        second["ask_item_id"],
        second["completion_item_id"],
    ]
    assert Conversation.objects.count() == 1
    conversation.refresh_from_db()
    assert conversation.title == "Kept title"


def test_an_untitled_conversation_is_titled_by_its_first_user_text(live):
    conversation = conversation_of(live, title="")
    text = "A" * 30 + " " + "b" * 40
    body = chat(text, store=True, conversation=conversation.public_id)
    body["messages"].insert(0, {"role": "system", "content": "Be brief."})
    metadata = live.post(PATH, body).json()["metadata"]
    assert metadata["conversation_title"] == text[:50] + "..."
    conversation.refresh_from_db()
    assert conversation.title == text[:50] + "..."


@pytest.mark.parametrize("stream", [False, True])
def test_store_false_stores_nothing_and_creates_no_conversation(live, stream):
    response = live.post(PATH, chat(stream=stream))
    assert response.status_code == 200
    metadata = events(response)[0] if stream else response.json()["metadata"]
    assert metadata == {
        "conversation_id": None,
        "conversation_created": False,
        "conversation_title": None,
        "ask_item_id": None,
        "completion_item_id": None,
        "store": False,
        "store_reasoning": False,
    }
    assert not Conversation.objects.exists()
    assert not Item.objects.exists()


def test_store_false_in_a_conversation_uses_it_but_writes_nothing(live):
    workspace = WorkspaceFactory(project=live.project, instruction="Speak French.")
    conversation = conversation_of(live, title="", workspace=workspace)
    body = chat(stream=True, conversation=conversation.public_id)
    metadata = events(live.post(PATH, body))[0]
    assert metadata["conversation_id"] == conversation.public_id
    assert metadata["conversation_title"] is None
    assert live.fake.recorder.last.body["messages"][0] == {
        "role": "system",
        "content": "Speak French.",
    }
    assert not Item.objects.exists()
    conversation.refresh_from_db()
    assert conversation.title == ""


@pytest.mark.parametrize("client_system", [False, True])
def test_the_workspace_instruction_is_the_first_system_message(live, client_system):
    """Prepended; a client's own system message follows it."""
    workspace = WorkspaceFactory(project=live.project, instruction="Be terse.")
    conversation = conversation_of(live, workspace=workspace)
    body = chat(store=True, conversation=conversation.public_id)
    if client_system:
        body["messages"].insert(0, {"role": "system", "content": "Client rules."})
    assert live.post(PATH, body).status_code == 200
    messages = live.fake.recorder.last.body["messages"]
    assert messages[0] == {"role": "system", "content": "Be terse."}
    assert messages[1:] == body["messages"]


def test_a_conversation_without_workspace_sends_the_messages_unchanged(live):
    conversation = conversation_of(live)
    body = chat(store=True, conversation=conversation.public_id)
    live.post(PATH, body)
    assert live.fake.recorder.last.body["messages"] == body["messages"]


@pytest.mark.parametrize("store_reasoning", [False, True])
def test_reasoning_is_stored_only_with_store_reasoning(live, store_reasoning):
    body = chat(
        stream=True,
        store=True,
        store_reasoning=store_reasoning,
        fake={"mode": "reasoning", "reasoning_tokens": 4, "tokens": 3},
    )
    parsed = events(live.post(PATH, body))
    kinds = [item.type for item in items_of(parsed[0]["conversation_id"])]
    if store_reasoning:
        assert kinds == ["message", "reasoning", "message"]
        reasoning = items_of(parsed[0]["conversation_id"])[1]
        assert reasoning.content[0]["type"] == "reasoning_text"
        assert reasoning.content[0]["text"].strip()
    else:
        assert kinds == ["message", "message"]


def test_tool_calls_are_stored_as_function_call_items(live):
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
    ]
    body = chat(
        "Weather?",
        stream=True,
        store=True,
        tools=tools,
        fake={"mode": "tool_calls", "tool_calls": 2},
    )
    parsed = events(live.post(PATH, body))
    ask, reply, *calls = items_of(parsed[0]["conversation_id"])
    assert (ask.role, reply.role) == ("user", "assistant")
    assert reply.content[0]["text"] == ""
    assert [call.type for call in calls] == ["function_call", "function_call"]
    assert all(call.name == "get_weather" for call in calls)
    assert json.loads(calls[0].arguments) == {"location": "Paris", "unit": "celsius"}
    assert calls[0].call_id
    assert calls[0].call_id != calls[1].call_id


def test_a_tool_result_ask_is_stored_as_function_call_output(live):
    conversation = conversation_of(live)
    messages = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
    ]
    body = {
        "model": MODEL,
        "messages": messages,
        "store": True,
        "conversation": conversation.public_id,
    }
    assert live.post(PATH, body).status_code == 200
    ask = items_of(conversation.public_id)[0]
    assert (ask.type, ask.call_id, ask.output) == (
        "function_call_output",
        "call_1",
        "Sunny",
    )


def test_the_openai_sdk_end_to_end(live):
    """The SDK's chat.completions on /v1/conv, then conversations.items.list."""
    conv_client = openai.OpenAI(
        base_url=f"{live.url}/v1/conv", api_key=live.secret, max_retries=0
    )
    completion = conv_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me a joke"}],
        extra_body={"store": True},
    )
    metadata = completion.metadata  # not validated by the SDK: Jan's fields
    conversation_id = metadata["conversation_id"]
    chunks = list(
        conv_client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Another one"}],
            stream=True,
            extra_body={"conversation": conversation_id, "store": True},
        )
    )
    assert chunks[0].model_extra["conversation_id"] == conversation_id
    text = "".join(c.choices[0].delta.content or "" for c in chunks[1:] if c.choices)
    listed = live.openai().conversations.items.list(conversation_id, order="asc")
    assert [item.id for item in listed.data] == [
        metadata["ask_item_id"],
        metadata["completion_item_id"],
        chunks[0].model_extra["ask_item_id"],
        chunks[0].model_extra["completion_item_id"],
    ]
    assert listed.data[0].content[0].text == "Tell me a joke"
    assert listed.data[1].content[0].text == completion.choices[0].message.content
    assert listed.data[3].content[0].text == text
    conversation = live.openai().conversations.retrieve(conversation_id)
    assert conversation.model_extra["title"] == "Tell me a joke"
