"""Reading a conversation-aware request: Jan's fields, the ask, the title, the hash."""

import json

import pytest

from conversations.completions.requests import (
    idempotency_key_get,
    request_hash,
    title_from,
    turn_request_parse,
    with_instruction,
)
from janserver.errors import InvalidRequest


def raw(**fields) -> bytes:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return json.dumps(body).encode()


def test_jan_fields_are_read_and_taken_out_of_the_upstream_body():
    parsed = turn_request_parse(
        raw(conversation="conv_1", store=True, store_reasoning=True, top_k=3)
    )
    assert (parsed.conversation_id, parsed.store, parsed.store_reasoning) == (
        "conv_1",
        True,
        True,
    )
    assert parsed.payload.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "top_k": 3,
    }


@pytest.mark.parametrize("value", [None, ""])
def test_an_empty_conversation_means_a_new_one(value):
    assert turn_request_parse(raw(conversation=value)).conversation_id is None


def test_defaults_store_nothing():
    parsed = turn_request_parse(raw())
    assert (parsed.store, parsed.store_reasoning, parsed.ask) == (False, False, None)


@pytest.mark.parametrize(
    ("messages", "title"),
    [
        ([{"role": "user", "content": "  Hello   world "}], "Hello world"),
        ([{"role": "user", "content": "x" * 50}], "x" * 50),
        ([{"role": "user", "content": "x" * 51}], "x" * 50 + "..."),
        (
            [
                {"role": "system", "content": "rules"},
                {"role": "user", "content": [{"type": "text", "text": "Part"}]},
                {"role": "user", "content": "later"},
            ],
            "Part",
        ),
        ([{"role": "system", "content": "only rules"}], ""),
    ],
)
def test_the_title_is_the_first_user_text(messages, title):
    assert title_from(messages) == title


def test_the_ask_is_the_last_message_as_an_item():
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": "…", "format": "wav"}},
    ]
    messages = [{"role": "user", "content": content}]
    parsed = turn_request_parse(raw(messages=messages, store=True))
    assert parsed.ask == {
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
        ],
    }


def test_a_tool_ask_without_its_call_id_is_refused_when_stored():
    messages = [{"role": "tool", "content": "42"}]
    with pytest.raises(InvalidRequest) as raised:
        turn_request_parse(raw(messages=messages, store=True))
    assert raised.value.param == "messages[0].tool_call_id"
    assert turn_request_parse(raw(messages=messages)).ask is None


def test_an_ask_over_the_text_cap_is_refused_before_the_upstream(settings):
    settings.CONVERSATION_TEXT_MAX_CHARS = 10
    with pytest.raises(InvalidRequest) as raised:
        turn_request_parse(
            raw(messages=[{"role": "user", "content": "x" * 11}], store=True)
        )
    assert raised.value.param == "messages[0].content[0].text"


def test_the_hash_ignores_only_how_the_answer_is_delivered():
    body = {"model": "m", "messages": [], "store": True}
    streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
    assert request_hash(body) == request_hash(streamed)
    assert request_hash(body) != request_hash({**body, "store": False})
    assert request_hash({"a": 1, "b": 2}) == request_hash({"b": 2, "a": 1})


@pytest.mark.parametrize(
    ("headers", "key"),
    [({}, None), ({"Idempotency-Key": "abc-123 X"}, "abc-123 X")],
)
def test_the_idempotency_key_header(headers, key):
    assert idempotency_key_get(headers) == key


def test_the_instruction_goes_first_and_the_conversation_is_sticky():
    parsed = turn_request_parse(raw(user="u1"))
    payload = with_instruction(
        parsed.payload, instruction="Rules.", sticky_key="conv_9"
    )
    assert payload.body["messages"][0] == {"role": "system", "content": "Rules."}
    assert payload.sticky_key == "conv_9"
    plain = with_instruction(parsed.payload, instruction="", sticky_key=None)
    assert plain.body is parsed.payload.body
    assert plain.sticky_key == "u1"
