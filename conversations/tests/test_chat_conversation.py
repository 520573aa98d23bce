"""/v1/chat/completions with Jan's `conversation` field, end to end through the openai
SDK: the stored history prepended, the turn stored, `conversation: {id, title}` on the
answer and on the stream's last chunk."""

import time

import httpx
import openai
import pytest

from accounts.tokens import tokens_issue
from conversations.models import Conversation, Item, StoredCompletion
from conversations.tests.factories import (
    ConversationFactory,
    ItemFactory,
    WorkspaceFactory,
)
from conversations.tests.test_conv_completions import (
    chat,
    conversation_of,
    events,
    items_of,
    streamed_text,
)
from inference import usage
from inference.models import UsageRecord
from inference.testing.fixtures import MODEL
from orgs.tests.factories import ProjectMemberFactory

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PATH = "/v1/chat/completions"


def ask(client: openai.OpenAI, conversation, text: str, **fields):
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": text}],
        extra_body={"conversation": conversation, **fields.pop("extra", {})},
        **fields,
    )


def test_turns_are_stored_and_the_history_is_prepended(live):
    client = live.openai()
    conversation = client.conversations.create()
    first = ask(client, conversation.id, "What is two plus two?")
    assert first.model_extra["conversation"] == {
        "id": conversation.id,
        "title": "What is two plus two?",
    }
    reply = first.choices[0].message.content
    second = ask(client, {"id": conversation.id}, "And times three?")
    assert second.model_extra["conversation"]["id"] == conversation.id

    sent = live.fake.recorder.last.body["messages"]
    assert sent == [
        {"role": "user", "content": "What is two plus two?"},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "And times three?"},
    ]
    assert not {"conversation", "store_reasoning"} & set(live.fake.recorder.last.body)
    assert live.fake.recorder.last.body.get("store") is None
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [(i.role, i.content[0].text) for i in items] == [
        ("user", "What is two plus two?"),
        ("assistant", reply),
        ("user", "And times three?"),
        ("assistant", second.choices[0].message.content),
    ]
    assert Conversation.objects.get().title == "What is two plus two?"


def test_the_stream_ends_with_the_conversation_chunk_before_done(live):
    conversation = conversation_of(live, title="")
    response = live.post(
        PATH,
        chat("Tell me a story", stream=True, conversation=conversation.public_id),
    )
    assert response.status_code == 200
    parsed = events(response)
    assert parsed[-1] == "[DONE]"
    last = parsed[-2]
    assert last["object"] == "chat.completion.chunk"
    assert last["choices"] == []
    assert last["conversation"] == {
        "id": conversation.public_id,
        "title": "Tell me a story",
    }
    assert last["id"] == parsed[0]["id"]
    assert all("conversation" not in e for e in parsed[:-2])
    ask_item, reply_item = items_of(conversation.public_id)
    assert ask_item.content == [{"type": "input_text", "text": "Tell me a story"}]
    assert reply_item.content[0]["text"] == streamed_text(parsed)


def test_the_sdk_reads_the_stream_and_its_conversation(live):
    client = live.openai()
    conversation = client.conversations.create(metadata={"k": "v"})
    chunks = list(
        ask(
            client,
            conversation.id,
            "Hello",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].model_extra["conversation"] == {
        "id": conversation.id,
        "title": "Hello",
    }
    assert chunks[-2].usage is not None  # the usage chunk comes just before it
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The SDK stops reading at [DONE]; the turn is stored as the response ends, right
    # after it.
    for _ in range(100):
        items = list(client.conversations.items.list(conversation.id, order="asc"))
        if len(items) == 2:
            break
        time.sleep(0.05)
    assert [item.role for item in items] == ["user", "assistant"]
    assert items[-1].content[0].text == text


def test_the_chat_projects_instruction_comes_first(live):
    chat_project = WorkspaceFactory(
        project=live.project, instruction="Answer in French."
    )
    conversation = ConversationFactory(
        project=live.project, workspace=chat_project, title="Kept"
    )
    ItemFactory(
        conversation=conversation,
        position=1,
        role="assistant",
        content=[{"type": "output_text", "text": "Bonjour"}],
    )
    conversation.last_position = 1
    conversation.save()
    answer = live.post(PATH, chat("Hi", conversation=conversation.public_id)).json()
    assert answer["conversation"] == {"id": conversation.public_id, "title": "Kept"}
    assert live.fake.recorder.last.body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Hi"},
    ]


def test_conversation_and_store_keep_both(live):
    client = live.openai()
    conversation = client.conversations.create()
    answer = ask(client, conversation.id, "Hi", store=True, metadata={"a": "b"})
    stored = client.chat.completions.retrieve(answer.id)
    assert stored.metadata == {"a": "b"}
    assert stored.choices[0].message.content == answer.choices[0].message.content
    assert len(list(client.conversations.items.list(conversation.id))) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_another_projects_conversation_is_not_found(live, stream):
    foreign = ConversationFactory()
    unknown = "conv_" + "x" * 42
    sent = live.fake.recorder.total_requests
    for public_id in (foreign.public_id, unknown):
        response = live.post(PATH, chat(stream=stream, conversation=public_id))
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "message": f"No conversation with id {public_id!r}.",
                "type": "invalid_request_error",
                "param": "conversation",
                "code": "not_found",
            }
        }
    assert live.fake.recorder.total_requests == sent
    assert not Item.objects.exists()
    client = live.openai()
    with pytest.raises(openai.NotFoundError):
        ask(client, foreign.public_id, "Hi")


@pytest.mark.parametrize(
    ("value", "param"),
    [
        (42, "conversation"),
        ("", "conversation"),
        ({"id": 3}, "conversation.id"),
        ({}, "conversation.id"),
        ({"id": "conv_1", "title": "x"}, "conversation.title"),
        ("conv_" + "x" * 80, "conversation"),
    ],
)
def test_a_bad_conversation_field_is_refused(live, value, param):
    sent = live.fake.recorder.total_requests
    response = live.post(PATH, chat(conversation=value))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        param,
        "invalid_value",
    )
    assert error["message"]
    assert live.fake.recorder.total_requests == sent


def test_a_turn_is_admitted_and_accounted_like_any_chat(live):
    conversation = conversation_of(live)
    response = live.post(PATH, chat("Hi", conversation=conversation.public_id))
    assert response.status_code == 200
    usage.flush()
    record = UsageRecord.objects.get()
    assert (record.endpoint, record.http_status) == ("chat.completions", 200)
    assert record.prompt_tokens > 0


def test_a_stream_failing_midway_stores_an_incomplete_turn_and_no_completion(live):
    conversation = conversation_of(live)
    body = chat(
        "Hi",
        stream=True,
        store=True,
        conversation=conversation.public_id,
        fake={"mode": "error_mid_stream"},
    )
    parsed = events(live.post(PATH, body))
    assert "[DONE]" not in parsed
    assert "error" in parsed[-1]
    assert all("conversation" not in e for e in parsed)
    ask_item, reply_item = items_of(conversation.public_id)
    assert (ask_item.status, reply_item.status) == ("completed", "incomplete")
    assert not StoredCompletion.objects.exists()


def test_a_login_user_chats_in_their_conversation(live, user):
    ProjectMemberFactory(project=live.project, user=user)
    conversation = ConversationFactory(owner=user, project=live.project)
    token = tokens_issue(user=user).access
    response = httpx.post(
        f"{live.url}{PATH}",
        json=chat("Hi", conversation=conversation.public_id),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["conversation"]["id"] == conversation.public_id
    assert len(items_of(conversation.public_id)) == 2
