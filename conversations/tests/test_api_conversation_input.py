"""Conversations API input checks: every bad field is refused by name, nothing stored."""

import pytest

from conversations.models import Conversation, Item
from conversations.tests.test_api_conversations import error

pytestmark = pytest.mark.django_db


BAD_CREATES = [
    (
        {"items": [{"role": "user", "content": "x"}] * 21},
        "Too many items: 21; add at most 20 at a time.",
        "items",
        "invalid_value",
    ),
    ({"items": {"role": "user"}}, "items must be an array.", "items", "invalid_value"),
    (
        {
            "items": [
                {"role": "user", "content": "x"},
                {"type": "image_generation_call"},
            ]
        },
        "Invalid value for 'items[1].type': use one of message, function_call, "
        "function_call_output, reasoning, web_search_call, mcp_call, mcp_list_tools.",
        "items[1].type",
        "invalid_value",
    ),
    (
        {"items": [{"role": "robot", "content": "x"}]},
        "Invalid value for 'items[0].role': use one of user, assistant, system, "
        "developer.",
        "items[0].role",
        "invalid_value",
    ),
    (
        {"items": [{"content": "x"}]},
        "Missing required parameter: 'items[0].role'.",
        "items[0].role",
        "missing_required_parameter",
    ),
    (
        {"metadata": {f"k{i}": "v" for i in range(17)}},
        "metadata may hold at most 16 pairs, not 17.",
        "metadata",
        "invalid_value",
    ),
    (
        {"metadata": {"k" * 65: "v"}},
        "Metadata keys must be 1 to 64 characters.",
        "metadata." + "k" * 65,
        "invalid_value",
    ),
    (
        {"metadata": {"k": "v" * 513}},
        "Metadata values must be strings of at most 512 characters.",
        "metadata.k",
        "invalid_value",
    ),
    (
        {"metadata": {"k": 1}},
        "Metadata values must be strings of at most 512 characters.",
        "metadata.k",
        "invalid_value",
    ),
    ({"metadata": ["k"]}, "metadata must be an object.", "metadata", "invalid_value"),
    (
        {"title": "t" * 201},
        "Ensure this field has no more than 200 characters.",
        "title",
        "invalid_value",
    ),
    ({"model": "x"}, "Unknown parameter: 'model'.", "model", "invalid_value"),
    (
        {"workspace_id": "ws_unknown"},
        "No workspace with id 'ws_unknown'.",
        "workspace_id",
        "not_found",
    ),
]


@pytest.mark.parametrize(("body", "message", "param", "code"), BAD_CREATES)
def test_create_refuses_bad_input_and_stores_nothing(
    key_api, body, message, param, code
):
    response = key_api.post("/conversations", body)
    status = 404 if code == "not_found" else 400
    assert (response.status_code, response.json()) == (
        status,
        error(message, param, code),
    )
    assert not Conversation.objects.exists()
    assert not Item.objects.exists()


@pytest.mark.parametrize(
    ("method", "body", "param"),
    [
        ("post", {}, "metadata"),
        ("post", {"metadata": {"k": "v" * 513}}, "metadata.k"),
        ("patch", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ("patch", {"title": "t" * 201}, "title"),
        ("patch", {"workspace_id": None}, "workspace_id"),
    ],
)
def test_update_refuses_bad_input(key_api, method, body, param):
    created = key_api.post("/conversations", {"metadata": {"a": "1"}}).json()
    response = getattr(key_api, method)(f"/conversations/{created['id']}", body)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)
    assert key_api.get(f"/conversations/{created['id']}").json() == created


def test_text_over_the_configured_cap_is_refused(key_api, settings):
    settings.CONVERSATION_TEXT_MAX_CHARS = 10
    body = {"items": [{"role": "user", "content": "x" * 11}]}
    response = key_api.post("/conversations", body)
    assert response.json() == error(
        "items[0].content is too long: 11 characters, at most 10.", "items[0].content"
    )
