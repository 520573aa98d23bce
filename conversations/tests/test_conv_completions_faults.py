"""POST /v1/conv/chat/completions with bad input and failing upstreams."""

import httpx
import pytest
from django.utils import timezone

from conversations.models import Conversation, Item
from conversations.tests.factories import ConversationFactory
from conversations.tests.test_conv_completions import (
    PATH,
    chat,
    conversation_of,
    events,
    items_of,
    streamed_text,
    wait_for,
)

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def not_found(public_id: str) -> dict:
    return {
        "error": {
            "message": f"No conversation with id {public_id!r}.",
            "type": "invalid_request_error",
            "param": "conversation_id",
            "code": "not_found",
        }
    }


@pytest.mark.parametrize("stream", [False, True])
def test_another_projects_conversation_is_not_found_like_an_unknown_one(live, stream):
    foreign = ConversationFactory()
    unknown = "conv_" + "x" * 42
    sent = live.fake.recorder.total_requests
    for public_id in (foreign.public_id, unknown):
        body = chat(stream=stream, store=True, conversation=public_id)
        response = live.post(PATH, body)
        assert (response.status_code, response.json()) == (404, not_found(public_id))
    assert live.fake.recorder.total_requests == sent
    assert not Item.objects.exists()


def test_a_deleted_conversation_is_not_found(live):
    conversation = conversation_of(live, deleted_at=timezone.now())
    body = chat(store=True, conversation=conversation.public_id)
    response = live.post(PATH, body)
    assert (response.status_code, response.json()) == (
        404,
        not_found(conversation.public_id),
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("store", "yes", "`store` must be a boolean."),
        ("store", 1, "`store` must be a boolean."),
        ("store_reasoning", "true", "`store_reasoning` must be a boolean."),
        ("conversation", 42, "`conversation` must be a conversation id (a string)."),
        ("conversation", {"id": "conv_1"}, None),
    ],
)
def test_jan_fields_of_the_wrong_type_are_refused(live, field, value, message):
    sent = live.fake.recorder.total_requests
    response = live.post(PATH, chat(**{field: value}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        field,
        "invalid_value",
    )
    if message:
        assert error["message"] == message
    assert live.fake.recorder.total_requests == sent


def test_chat_validation_is_the_same_as_chat_completions(live):
    response = live.post(PATH, {"model": "jan-v1-4b", "messages": []})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"
    unknown = live.post(PATH, chat(model="no-such-model"))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"


def test_a_missing_credential_is_401(live):
    response = httpx.post(f"{live.url}{PATH}", json=chat(), timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_get_is_not_allowed(live):
    response = httpx.get(f"{live.url}{PATH}", headers=live.headers, timeout=10)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("stream", [False, True])
def test_an_upstream_500_before_the_stream_is_an_http_error_and_stores_nothing(
    live, stream
):
    body = chat(stream=stream, store=True, fake={"mode": "error_500"})
    response = live.post(PATH, body)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "server_error"
    assert not Conversation.objects.exists()
    assert not Item.objects.exists()


def test_a_stream_failing_midway_ends_with_an_error_and_stores_the_partial_turn(live):
    conversation = conversation_of(live)
    body = chat(
        stream=True,
        store=True,
        conversation=conversation.public_id,
        fake={"mode": "error_mid_stream", "drop_after": 4, "tokens": 20},
    )
    parsed = events(live.post(PATH, body))
    assert set(parsed[-1]) == {"error"}
    assert parsed[-1]["error"]["type"] == "server_error"
    assert "[DONE]" not in parsed
    ask, reply = items_of(conversation.public_id)
    assert (ask.status, reply.status) == ("completed", "incomplete")
    assert reply.public_id == parsed[0]["completion_item_id"]
    partial = streamed_text(parsed)
    assert partial
    assert reply.content[0]["text"] == partial


def test_a_dropped_upstream_connection_stores_the_partial_turn(live):
    body = chat(
        stream=True, store=True, fake={"mode": "drop_mid_stream", "drop_after": 3}
    )
    parsed = events(live.post(PATH, body))
    assert parsed[-1]["error"]["code"] == "bad_upstream_response"
    _ask, reply = items_of(parsed[0]["conversation_id"])
    assert reply.status == "incomplete"
    assert reply.content[0]["text"] == streamed_text(parsed)


def test_a_client_disconnect_stores_what_was_generated_as_incomplete(live):
    """The upstream is closed; the turn is stored in the background."""
    body = chat(
        "Long story", stream=True, store=True, fake={"tokens": 500, "delay_ms": 20}
    )
    with httpx.stream(
        "POST", f"{live.url}{PATH}", json=body, headers=live.headers, timeout=30
    ) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        for _ in range(8):
            next(lines)
    metadata = events(httpx.Response(200, content=(first + "\n\n").encode()))[0]
    sent = live.fake.recorder.last
    assert wait_for(lambda: sent.disconnected_at is not None)
    conversation_id = metadata["conversation_id"]
    assert wait_for(lambda: len(items_of(conversation_id)) == 2)
    ask, reply = items_of(conversation_id)
    assert (ask.public_id, ask.status) == (metadata["ask_item_id"], "completed")
    assert (reply.public_id, reply.status) == (
        metadata["completion_item_id"],
        "incomplete",
    )
    text = reply.content[0]["text"]
    assert text
    assert len(text.split()) < 500
