"""End to end: the official openai SDK against a real gateway (uvicorn)."""

import openai
import pytest
from openai.types.conversations import (
    Conversation,
    ConversationDeletedResource,
    Message,
)
from openai.types.responses import (
    ResponseFunctionToolCallItem,
    ResponseFunctionToolCallOutputItem,
    ResponseReasoningItem,
)

from orgs.services import api_key_create
from orgs.tests.factories import ProjectMemberFactory

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REPLY = [
    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Think."}]},
    {"role": "assistant", "content": "The answer is 42."},
]


@pytest.fixture
def client(gateway_url) -> openai.OpenAI:
    member = ProjectMemberFactory()
    _, secret = api_key_create(
        kind="project",
        organization=member.project.organization,
        project=member.project,
        owner=member.user,
    )
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=secret, max_retries=0)


def test_conversations_and_items_with_the_sdk(client):
    conversation = client.conversations.create(
        items=[{"role": "user", "content": "Question?"}], metadata={"topic": "math"}
    )
    assert isinstance(conversation, Conversation)
    assert conversation.metadata == {"topic": "math"}
    assert client.conversations.retrieve(conversation.id) == conversation
    updated = client.conversations.update(conversation.id, metadata={"topic": "x"})
    assert updated.metadata == {"topic": "x"}

    created = client.conversations.items.create(conversation.id, items=REPLY)
    assert [type(item) for item in created.data] == [
        ResponseFunctionToolCallItem,
        ResponseFunctionToolCallOutputItem,
        ResponseReasoningItem,
        Message,
    ]
    assert created.data[3].content[0].text == "The answer is 42."
    assert created.data[3].content[0].type == "output_text"

    pages = client.conversations.items.list(conversation.id, limit=2)
    listed = list(pages)  # follows has_more / last_id across three pages
    assert [item.id for item in listed] == [
        *(item.id for item in reversed(created.data)),
        listed[-1].id,
    ]
    first = listed[-1]
    assert isinstance(first, Message)
    assert (first.role, first.content[0].type) == ("user", "input_text")
    oldest = client.conversations.items.list(conversation.id, order="asc", limit=1)
    assert oldest.data[0].id == first.id

    item = client.conversations.items.retrieve(
        first.id, conversation_id=conversation.id
    )
    assert item == first
    after = client.conversations.items.delete(first.id, conversation_id=conversation.id)
    assert isinstance(after, Conversation)
    assert after.id == conversation.id
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(first.id, conversation_id=conversation.id)

    deleted = client.conversations.delete(conversation.id)
    assert deleted == ConversationDeletedResource(
        id=conversation.id, object="conversation.deleted", deleted=True
    )
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conversation.id)


def test_sdk_errors_carry_the_bad_parameter(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.conversations.create(items=[{"role": "user", "content": "x"}] * 21)
    assert raised.value.param == "items"
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as raised:
        client.conversations.items.create(
            conversation.id,
            items=[{"type": "message", "role": "robot", "content": "x"}],
        )
    assert raised.value.param == "items[0].role"
    assert raised.value.code == "invalid_value"
