"""janserver.db.insert_many and janserver.db.lookups.row_get: rows written and read as
the ORM would write and read them; the threads janserver.db runs database work in."""

import math
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from conversations.models import Conversation, Item, ItemStatus, ItemType, MessageRole
from conversations.tests.factories import ConversationFactory, WorkspaceFactory
from inference.models import UsageRecord
from janserver import db
from janserver.db import bulk, lookups, recordset

pytestmark = pytest.mark.django_db


def test_rows_are_stored_like_the_orm_stores_them():
    conversation = ConversationFactory()
    now = timezone.now()
    content = [{"type": "input_text", "text": "Hi é"}]
    rows = [
        {
            "conversation_id": conversation.pk,
            "position": 1,
            "type": ItemType.MESSAGE,  # a TextChoices member: a str subclass
            "role": MessageRole.USER,
            "content": content,
            "created_at": now,
        },
        {
            "conversation_id": conversation.pk,
            "position": 2,
            "type": "function_call",
            "call_id": "call_1",
            "name": "lookup",
            "arguments": '{"q": 1}',
            "status": ItemStatus.INCOMPLETE,
            "created_at": now,  # the same object: prepared once
        },
    ]
    with transaction.atomic():
        db.insert_many(Item, rows)
    first, second = Item.objects.filter(conversation=conversation).order_by("position")
    assert (first.type, first.role, first.content) == ("message", "user", content)
    assert first.status == "completed"  # the field's default
    assert first.public_id.startswith("msg_")  # a callable default, per row
    assert first.public_id != second.public_id
    assert (first.output, first.summary, first.response_id) == (None, None, None)
    assert first.created_at == second.created_at == now
    assert (second.call_id, second.name, second.arguments) == (
        "call_1",
        "lookup",
        '{"q": 1}',
    )
    assert (second.status, second.content, second.role) == ("incomplete", None, "")


def test_values_that_need_preparing_are_prepared():
    later = timezone.now() + timedelta(minutes=1)
    rows = [
        {
            "request_id": "req_1",
            "endpoint": "chat.completions",
            "model": "m",
            "status": "ok",
            "http_status": "201",  # a str for an integer field: converted
            "duration_ms": 12,  # an int for a float field
            "time_to_first_token_ms": None,
            "created_at": later,
        },
        {"request_id": "req_2", "endpoint": "e", "model": "m", "status": "ok"},
    ]
    with transaction.atomic():
        db.insert_many(UsageRecord, rows)
    first, second = UsageRecord.objects.order_by("request_id")
    assert (first.http_status, first.duration_ms) == (201, 12.0)
    assert first.time_to_first_token_ms is None
    assert first.created_at == later
    assert (second.http_status, second.stream, second.project_id) == (200, False, None)
    assert abs(second.created_at - timezone.now()) < timedelta(minutes=1)


def test_values_a_json_document_cannot_carry_are_stored_exactly():
    conversation = ConversationFactory()
    huge = 2**70  # beyond orjson's 64 bits: PostgreSQL's recordset path steps aside
    rows = [
        {"conversation_id": conversation.pk, "position": n, "type": "message"}
        | {"role": "user", "content": [{"type": "input_text", "text": "x", "n": huge}]}
        for n in (1, 2)
    ]
    with transaction.atomic():
        db.insert_many(Item, rows)
    stored = Item.objects.filter(conversation=conversation).order_by("position")
    assert [item.content[0]["n"] for item in stored] == [huge, huge]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stores a NaN as NULL"
)
def test_a_float_that_is_not_finite_is_stored_as_it_is():
    rows = [
        {"request_id": f"req_{n}", "endpoint": "e", "model": "m", "status": "ok"}
        | {"duration_ms": value}
        for n, value in enumerate((float("nan"), float("inf"), 1.5))
    ]
    with transaction.atomic():
        db.insert_many(UsageRecord, rows)
    stored = [r.duration_ms for r in UsageRecord.objects.order_by("request_id")]
    assert math.isnan(stored[0])
    assert stored[1:] == [float("inf"), 1.5]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the recordset path is PostgreSQL's"
)
def test_postgresql_takes_the_rows_in_one_json_parameter(django_assert_num_queries):
    conversation = ConversationFactory()
    rows = [
        {"conversation_id": conversation.pk, "position": n, "type": "message"}
        | {"role": "user", "content": [{"type": "input_text", "text": f"{n} é"}]}
        for n in range(1, 41)
    ]
    with transaction.atomic(), django_assert_num_queries(1) as captured:
        db.insert_many(Item, rows)
    assert "jsonb_to_recordset" in captured.captured_queries[0]["sql"]
    stored = Item.objects.filter(conversation=conversation).order_by("position")
    assert [item.content[0]["text"] for item in stored] == [
        f"{n} é" for n in range(1, 41)
    ]


def test_recordset_documents_refuse_what_json_cannot_carry():
    assert recordset.records(("a", "b"), [(1, "x"), (None, {"k": [1.5]})]) == (
        '[{"a":1,"b":"x"},{"a":null,"b":{"k":[1.5]}}]'
    )
    with pytest.raises(recordset.NotCarried):
        recordset.records(("a",), [(float("nan"),)])
    with pytest.raises(recordset.NotCarried):
        recordset.records(("a",), [(2**64,)])
    with pytest.raises(recordset.NotCarried):
        recordset.records(("a",), [(Decimal("1.5"),)])
    assert recordset.carried(Item._meta.get_field("content"))
    assert recordset.carried(Item._meta.get_field("conversation"))
    assert not recordset.carried(models.DecimalField(max_digits=4))
    assert not recordset.carried(models.JSONField(encoder=DjangoJSONEncoder))


def test_nothing_to_insert_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        db.insert_many(Item, [])


def orm_fields(instance):
    return {
        f.attname: getattr(instance, f.attname)
        for f in type(instance)._meta.concrete_fields
    }


def test_row_get_returns_what_select_related_returns(django_assert_num_queries):
    workspace = WorkspaceFactory(instruction="Be brief. é")
    conversation = ConversationFactory(
        owner=workspace.owner,
        project=workspace.project,
        workspace=workspace,
        metadata={"topic": "x", "n": "1"},
    )
    expected = Conversation.objects.select_related("workspace").get(pk=conversation.pk)
    with django_assert_num_queries(1):
        found = lookups.row_get(
            Conversation,
            related="workspace",
            equal={"public_id": conversation.public_id},
            null=("deleted_at",),
        )
        assert found is not None
        assert found.workspace.instruction == "Be brief. é"  # no second query
    assert orm_fields(found) == orm_fields(expected)
    assert orm_fields(found.workspace) == orm_fields(expected.workspace)
    assert found.created_at.tzinfo is not None
    assert not found._state.adding
    found.title = "Saved"
    found.save(update_fields=["title"])  # a usable instance
    assert Conversation.objects.get(pk=conversation.pk).title == "Saved"


def test_row_get_without_the_related_row_or_any_row():
    conversation = ConversationFactory()
    found = lookups.row_get(
        Conversation, related="workspace", equal={"public_id": conversation.public_id}
    )
    assert found is not None
    assert found.workspace is None
    conversation.deleted_at = timezone.now()
    conversation.save()
    assert (
        lookups.row_get(
            Conversation,
            related="workspace",
            equal={"public_id": conversation.public_id},
            null=("deleted_at",),
        )
        is None
    )
    assert (
        lookups.row_get(Conversation, related="workspace", equal={"public_id": "x"})
        is None
    )


def test_many_rows_go_in_as_few_statements_as_the_parameter_limit_allows(
    django_assert_num_queries,
):
    conversation = ConversationFactory()
    rows = [
        {"conversation_id": conversation.pk, "position": n, "type": "message"}
        | {"role": "user", "content": [{"type": "input_text", "text": str(n)}]}
        for n in range(1, 151)
    ]
    fields = bulk._insert_fields(Item)
    per_statement = min(connection.ops.bulk_batch_size(fields, rows), 150)
    statements = -(-150 // per_statement)
    with transaction.atomic(), django_assert_num_queries(statements):
        db.insert_many(Item, rows)
    stored = Item.objects.filter(conversation=conversation).order_by("position")
    assert [item.content[0]["text"] for item in stored] == [
        str(n) for n in range(1, 151)
    ]
    assert len({item.public_id for item in stored}) == 150


async def test_writes_share_the_sync_threads_connection_on_sqlite_only():
    """SQLite takes one writer at a time: a write from another connection would wait
    in its busy loop and make the sync thread's connection drop its page cache."""
    sync_thread = await db.run(threading.get_ident)
    writer = await db.run_write(threading.get_ident)
    if connection.vendor == "sqlite":
        assert writer == sync_thread
    else:
        assert writer != sync_thread
    assert writer != threading.get_ident()
