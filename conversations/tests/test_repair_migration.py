"""The repair of JSON values stored with lone surrogates (SQLite, before the parser)."""

import importlib

import pytest
from django.apps import apps
from django.db import connection

from conversations.models import Conversation, Item
from conversations.tests.factories import ConversationFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="only SQLite could store lone surrogates"
    ),
]


def _poison(model, pk: int, column: str, json_text: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {model._meta.db_table} SET {column} = %s WHERE id = %s",  # noqa: S608
            [json_text, pk],
        )


def _repair() -> None:
    migration = importlib.import_module(
        "conversations.migrations.0004_repair_unencodable_text"
    )
    migration.repair(apps, connection.schema_editor())


def test_poisoned_rows_answer_again_after_the_repair(key_api, project, user):
    """A lone surrogate stored by the old parser broke every list; the repair
    replaces it with U+FFFD and leaves other text (surrogate pairs too) alone."""
    conversation = ConversationFactory(project=project, owner=user)
    _poison(
        Conversation,
        conversation.pk,
        "metadata",
        r'{"k": "a\ud800b", "e": "\ud83d\ude00"}',
    )
    created = key_api.post(
        f"/conversations/{conversation.public_id}/items",
        {"items": [{"role": "user", "content": "hi"}]},
    )
    item = Item.objects.get(public_id=created.json()["data"][0]["id"])
    _poison(Item, item.pk, "content", r'[{"type": "input_text", "text": "\udfff"}]')
    assert key_api.get("/conversations").status_code == 500
    _repair()
    listed = key_api.get("/conversations")
    assert listed.status_code == 200
    assert listed.json()["data"][0]["metadata"] == {"k": "a\ufffdb", "e": "\U0001f600"}
    items = key_api.get(f"/conversations/{conversation.public_id}/items").json()
    assert items["data"][0]["content"] == [{"type": "input_text", "text": "\ufffd"}]
