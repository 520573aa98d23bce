"""Conversation items API: create, list by position, retrieve, delete."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Item
from conversations.selectors import item_page
from conversations.tests.factories import (
    ConversationFactory,
    ItemFactory,
    ResponseFactory,
)

pytestmark = pytest.mark.django_db

ITEMS = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "weather",
        "arguments": '{"city": "Paris"}',
    },
    {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Looked it up."}],
    },
    {"role": "assistant", "content": "18C and sunny.", "status": "incomplete"},
]


def item_bodies(conversation: Conversation) -> list[dict]:
    """The expected item objects of a conversation, oldest first."""
    ids = list(
        conversation.items.order_by("position").values_list("public_id", flat=True)
    )
    common = [{"id": i, "object": "conversation.item"} for i in ids]
    return [
        {
            **common[0],
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": "Weather in Paris?"}],
        },
        {**common[1], **ITEMS[1], "status": "completed"},
        {**common[2], **ITEMS[2], "status": "completed"},
        {**common[3], **ITEMS[3], "status": "completed"},
        {
            **common[4],
            "type": "message",
            "status": "incomplete",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "18C and sunny.",
                    "annotations": [],
                    "logprobs": [],
                }
            ],
        },
    ]


@pytest.fixture
def conversation_id(key_api) -> str:
    return key_api.post("/conversations").json()["id"]


def test_create_items_returns_them_in_order_in_openai_shapes(key_api, conversation_id):
    response = key_api.post(f"/conversations/{conversation_id}/items", {"items": ITEMS})
    assert response.status_code == 200
    expected = item_bodies(Conversation.objects.get(public_id=conversation_id))
    assert response.json() == {
        "object": "list",
        "data": expected,
        "first_id": expected[0]["id"],
        "last_id": expected[-1]["id"],
        "has_more": False,
    }


def test_list_is_newest_first_by_default_and_pages_both_ways(key_api, conversation_id):
    path = f"/conversations/{conversation_id}/items"
    key_api.post(path, {"items": ITEMS})
    expected = item_bodies(Conversation.objects.get(public_id=conversation_id))
    newest = key_api.get(path, {"limit": 2}).json()
    assert newest == {
        "object": "list",
        "data": expected[::-1][:2],
        "first_id": expected[4]["id"],
        "last_id": expected[3]["id"],
        "has_more": True,
    }
    older = key_api.get(path, {"after": newest["last_id"]}).json()
    assert (older["data"], older["has_more"]) == (expected[::-1][2:], False)
    oldest = key_api.get(path, {"order": "asc", "limit": 3}).json()
    assert (oldest["data"], oldest["has_more"]) == (expected[:3], True)
    after = key_api.get(path, {"order": "asc", "last": oldest["last_id"]}).json()
    assert after["data"] == expected[3:]
    assert key_api.get(path, {"after": expected[0]["id"]}).json() == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"order": "newest"}, "order"),
        ({"after": "msg_unknown"}, "after"),
    ],
)
def test_list_refuses_bad_parameters(key_api, conversation_id, params, param):
    response = key_api.get(f"/conversations/{conversation_id}/items", params)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


def test_a_cursor_from_another_conversation_is_refused(key_api, conversation_id):
    other = key_api.post("/conversations", {"items": ITEMS[:1]}).json()["id"]
    foreign = Item.objects.get(conversation__public_id=other).public_id
    response = key_api.get(
        f"/conversations/{conversation_id}/items", {"after": foreign}
    )
    assert response.json()["error"] == {
        "message": f"The cursor {foreign!r} is not an item of this conversation.",
        "type": "invalid_request_error",
        "param": "after",
        "code": "invalid_value",
    }


def test_retrieve_and_delete_an_item(key_api, conversation_id):
    """Deleting returns the conversation; positions are never reused."""
    path = f"/conversations/{conversation_id}/items"
    created = key_api.post(path, {"items": ITEMS[:2]}).json()["data"]
    assert key_api.get(f"{path}/{created[1]['id']}").json() == created[1]
    deleted = key_api.delete(f"{path}/{created[1]['id']}")
    assert deleted.json() == key_api.get(f"/conversations/{conversation_id}").json()
    assert deleted.json()["object"] == "conversation"
    again = key_api.delete(f"{path}/{created[1]['id']}")
    assert again.status_code == 404
    assert again.json()["error"] == {
        "message": f"No item with id {created[1]['id']!r}.",
        "type": "invalid_request_error",
        "param": "item_id",
        "code": "not_found",
    }
    key_api.post(path, {"items": ITEMS[:1]})
    positions = Item.objects.order_by("position").values_list("position", flat=True)
    assert list(positions) == [1, 3]


def test_an_item_is_reachable_only_through_its_conversation(key_api, conversation_id):
    other = key_api.post("/conversations", {"items": ITEMS[:1]}).json()["id"]
    item_id = Item.objects.get(conversation__public_id=other).public_id
    path = f"/conversations/{conversation_id}/items/{item_id}"
    assert key_api.get(path).status_code == 404
    assert key_api.delete(path).status_code == 404
    assert Item.objects.filter(public_id=item_id).exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "items"),
        ({"items": []}, "items"),
        ({"items": [ITEMS[0]] * 21}, "items"),
        (
            {"items": [ITEMS[0], ITEMS[0], ITEMS[0], {"role": "bot", "content": "x"}]},
            "items[3].role",
        ),
        ({"items": [{"type": "file_search_call"}]}, "items[0].type"),
        (
            {"items": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
            "items[0].content[0].type",
        ),
        ({"items": ITEMS[:1], "metadata": {}}, "metadata"),
    ],
)
def test_create_items_refuses_bad_input_and_stores_nothing(
    key_api, conversation_id, body, param
):
    response = key_api.post(f"/conversations/{conversation_id}/items", body)
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)
    assert not Item.objects.exists()
    assert Conversation.objects.get(public_id=conversation_id).last_position == 0


@pytest.fixture
def big_conversation(project, user) -> Conversation:
    """A conversation of the key's project with 10,000 items, and a smaller neighbour."""
    conversation = ConversationFactory(
        project=project, owner=user, last_position=10_000
    )
    other = ConversationFactory(project=project, owner=user, last_position=1_000)
    content = [{"type": "input_text", "text": "hi"}]
    Item.objects.bulk_create(
        Item(
            conversation=owner,
            position=position,
            type="message",
            role="user",
            content=content,
        )
        for owner, count in ((conversation, 10_000), (other, 1_000))
        for position in range(1, count + 1)
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE conversations_item")
    return conversation


def test_listing_100_of_10000_items_is_a_fixed_few_queries(
    key_api, big_conversation, settings, django_assert_num_queries
):
    """The conversation, the page's positions, its rows; a cursor adds one."""
    settings.API_KEY_LAST_USED_FLUSH_SECONDS = 3600
    path = f"/conversations/{big_conversation.public_id}/items"
    key_api.get(path, {"limit": 1})  # warm the credential cache
    with django_assert_num_queries(3):
        first = key_api.get(path, {"limit": 100}).json()
    with django_assert_num_queries(4):
        second = key_api.get(path, {"limit": 100, "after": first["last_id"]}).json()
    positions = dict(Item.objects.values_list("public_id", "position"))
    assert [positions[i["id"]] for i in first["data"]] == list(range(10_000, 9_900, -1))
    assert [positions[i["id"]] for i in second["data"]] == list(range(9_900, 9_800, -1))
    assert second["has_more"] is True


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="The plan is checked on PostgreSQL."
)
def test_the_item_page_reads_the_position_index(big_conversation):
    """On PostgreSQL the page's positions come from an index-only scan, no sort."""
    cursor_id = big_conversation.items.get(position=5_000).public_id
    with CaptureQueriesContext(connection) as queries:
        item_page(conversation=big_conversation, limit=100, after=cursor_id)
    plans = []
    for query in queries.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    for plan in plans:
        assert "Seq Scan" not in plan
        assert "Sort" not in plan
    positions_plan, rows_plan = plans[-2:]
    assert "Index Only Scan Backward using conv_item_position_unique" in positions_plan
    assert "Index Scan Backward using conv_item_position_unique" in rows_plan


# output_text parts carry `annotations` and `logprobs` wherever items are rendered.

BARE_OUTPUT_TEXT = [{"type": "output_text", "text": "Paris."}]  # as rows stored before
RENDERED_OUTPUT_TEXT = [
    {"type": "output_text", "text": "Paris.", "annotations": [], "logprobs": []}
]


def test_output_text_parts_of_stored_items_carry_annotations_and_logprobs(
    key_api, project, user
):
    """Rows stored without the lists (older rows) render with empty ones: in the list
    of items and in one item; given lists are kept."""
    conversation = ConversationFactory(project=project, owner=user)
    annotated = [
        {
            "type": "output_text",
            "text": "See [1].",
            "annotations": [{"type": "url_citation", "url": "https://a.example"}],
        }
    ]
    bare = ItemFactory(
        conversation=conversation, role="assistant", content=BARE_OUTPUT_TEXT
    )
    ItemFactory(conversation=conversation, role="assistant", content=annotated)
    path = f"/conversations/{conversation.public_id}/items"
    listed = key_api.get(path, {"order": "asc"}).json()["data"]
    assert [item["content"] for item in listed] == [
        RENDERED_OUTPUT_TEXT,
        [{**annotated[0], "logprobs": []}],
    ]
    one = key_api.get(f"{path}/{bare.public_id}").json()
    assert one["content"] == RENDERED_OUTPUT_TEXT


def test_assistant_items_written_now_store_both_lists(key_api, conversation_id):
    created = key_api.post(
        f"/conversations/{conversation_id}/items",
        {
            "items": [
                {"role": "assistant", "content": [{"type": "output_text", "text": "x"}]}
            ]
        },
    ).json()["data"][0]
    assert created["content"] == [
        {"type": "output_text", "text": "x", "annotations": [], "logprobs": []}
    ]
    assert Item.objects.get(public_id=created["id"]).content == created["content"]


def test_output_text_parts_of_stored_responses_carry_annotations_and_logprobs(
    key_api, project, user
):
    """A response's output and its input items render the lists too."""
    message = {
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": BARE_OUTPUT_TEXT,
    }
    response = ResponseFactory(
        project=project,
        owner=user,
        status="completed",
        input=[{**message, "id": "msg_in"}],
        output=[{**message, "id": "msg_out"}],
    )
    body = key_api.get(f"/responses/{response.public_id}").json()
    assert body["output"] == [
        {**message, "id": "msg_out", "content": RENDERED_OUTPUT_TEXT}
    ]
    items = key_api.get(f"/responses/{response.public_id}/input_items").json()
    assert items["data"] == [
        {**message, "id": "msg_in", "content": RENDERED_OUTPUT_TEXT}
    ]
