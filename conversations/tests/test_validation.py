"""Input items, metadata and titles: what is accepted, how it is stored, what is refused."""

import pytest

from conversations.validation import item_clean, items_clean, metadata_clean
from janserver.errors import InvalidRequest, MissingParameter

TEXT = {"type": "input_text", "text": "hi"}


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param(
            {"role": "user", "content": "hi"},
            {"type": "message", "role": "user", "content": [TEXT]},
            id="easy-user-message",
        ),
        pytest.param(
            {"type": "message", "role": "assistant", "content": "yo"},
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "yo",
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            },
            id="easy-assistant-message",
        ),
        pytest.param(
            {"role": "developer", "content": [TEXT], "id": "ignored"},
            {"type": "message", "role": "developer", "content": [TEXT]},
            id="client-id-ignored",
        ),
        pytest.param(
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": "https://x/y.png"},
                    {"type": "input_file", "file_id": "file_1", "filename": "a.pdf"},
                ],
                "status": "incomplete",
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_image",
                        "detail": "auto",
                        "image_url": "https://x/y.png",
                    },
                    {"type": "input_file", "file_id": "file_1", "filename": "a.pdf"},
                ],
                "status": "incomplete",
            },
            id="image-and-file-parts",
        ),
        pytest.param(
            {
                "role": "assistant",
                "content": [
                    {"type": "output_text", "text": "a", "logprobs": []},
                    {"type": "refusal", "refusal": "no"},
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "a",
                        "annotations": [],
                        "logprobs": [],
                    },
                    {"type": "refusal", "refusal": "no"},
                ],
            },
            id="output-text-and-refusal",
        ),
        pytest.param(
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            id="function-call",
        ),
        pytest.param(
            {"type": "function_call_output", "call_id": "c", "output": [TEXT]},
            {"type": "function_call_output", "call_id": "c", "output": [TEXT]},
            id="function-call-output-parts",
        ),
        pytest.param(
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "s"}],
                "content": [{"type": "reasoning_text", "text": "r"}],
            },
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "s"}],
                "content": [{"type": "reasoning_text", "text": "r"}],
                "encrypted_content": "",
            },
            id="reasoning",
        ),
    ],
)
def test_input_items_are_stored_in_openai_shapes(raw, stored):
    """Accepted items become Item field values; status defaults to completed."""
    assert item_clean(raw, "items[0]") == {"status": "completed", **stored}


LONG = "x" * 101


@pytest.mark.parametrize(
    ("raw", "param", "error"),
    [
        ("hi", "items[0]", InvalidRequest),
        ({"type": "file_search_call"}, "items[0].type", InvalidRequest),
        (
            {"type": "web_search_call", "action": {"type": "x"}},
            "items[0].action.type",
            InvalidRequest,
        ),
        (
            {"type": "mcp_call", "name": "echo", "arguments": "{}"},
            "items[0].server_label",
            MissingParameter,
        ),
        ({"type": "item_reference", "id": "msg_1"}, "items[0].type", InvalidRequest),
        ({"content": "hi"}, "items[0].role", MissingParameter),
        ({"role": "tool", "content": "hi"}, "items[0].role", InvalidRequest),
        ({"role": "critic", "content": "hi"}, "items[0].role", InvalidRequest),
        ({"role": "user"}, "items[0].content", MissingParameter),
        ({"role": "user", "content": 5}, "items[0].content", InvalidRequest),
        ({"role": "user", "content": [5]}, "items[0].content[0]", InvalidRequest),
        (
            {"role": "user", "content": [{"type": "audio"}]},
            "items[0].content[0].type",
            InvalidRequest,
        ),
        (
            {"role": "user", "content": [{"type": "input_text"}]},
            "items[0].content[0].text",
            MissingParameter,
        ),
        (
            {"role": "user", "content": [{"type": "input_text", "text": 1}]},
            "items[0].content[0].text",
            InvalidRequest,
        ),
        (
            {"role": "user", "content": [{**TEXT, "extra": 1}]},
            "items[0].content[0].extra",
            InvalidRequest,
        ),
        (
            {"role": "user", "content": [{"type": "input_image"}]},
            "items[0].content[0].image_url",
            MissingParameter,
        ),
        (
            {
                "role": "user",
                "content": [{"type": "input_image", "file_id": "f", "detail": "max"}],
            },
            "items[0].content[0].detail",
            InvalidRequest,
        ),
        (
            {"role": "user", "content": "hi", "phase": "x"},
            "items[0].phase",
            InvalidRequest,
        ),
        (
            {"role": "user", "content": "hi", "status": "done"},
            "items[0].status",
            InvalidRequest,
        ),
        ({"role": "user", "content": LONG}, "items[0].content", InvalidRequest),
        (
            {"type": "function_call", "name": "f", "arguments": "{}"},
            "items[0].call_id",
            MissingParameter,
        ),
        (
            {"type": "function_call", "call_id": "", "name": "f", "arguments": "{}"},
            "items[0].call_id",
            InvalidRequest,
        ),
        (
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": LONG},
            "items[0].arguments",
            InvalidRequest,
        ),
        (
            {"type": "function_call_output", "call_id": "c"},
            "items[0].output",
            MissingParameter,
        ),
        (
            {"type": "function_call_output", "call_id": "c", "output": [{"type": "x"}]},
            "items[0].output[0].type",
            InvalidRequest,
        ),
        ({"type": "reasoning"}, "items[0].summary", MissingParameter),
        (
            {"type": "reasoning", "summary": [{"type": "reasoning_text", "text": "r"}]},
            "items[0].summary[0].type",
            InvalidRequest,
        ),
    ],
)
def test_bad_items_are_refused_naming_the_field(settings, raw, param, error):
    """Every refusal names the offending field's path."""
    settings.CONVERSATION_TEXT_MAX_CHARS = 100
    with pytest.raises(error) as raised:
        item_clean(raw, "items[0]")
    assert raised.value.param == param
    assert raised.value.message


def test_at_most_twenty_items_at_a_time():
    """Twenty items pass; the twenty-first is refused on `items`."""
    assert len(items_clean([{"role": "user", "content": "hi"}] * 20)) == 20
    with pytest.raises(InvalidRequest) as raised:
        items_clean([{"role": "user", "content": "hi"}] * 21)
    assert (raised.value.param, raised.value.message) == (
        "items",
        "Too many items: 21; add at most 20 at a time.",
    )


def test_metadata_limits():
    """Sixteen pairs with 64-character keys and 512-character values are the limit."""
    full = {f"{i:064d}": "v" * 512 for i in range(16)}
    assert metadata_clean(full) == full
    assert metadata_clean(None) == {}
