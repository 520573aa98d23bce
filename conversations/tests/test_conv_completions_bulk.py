"""Storing a batch of finished turns together, and one by one when that fails."""

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations import positions
from conversations.completions import batching
from conversations.completions.bulk import turns_finish
from conversations.completions.requests import turn_request_parse
from conversations.completions.services import Reply, Turn, turn_begin, turn_finish
from conversations.models import Conversation, IdempotencyKey, Item
from conversations.tests.factories import ConversationFactory, ItemFactory
from janserver.errors import NotFound

pytestmark = pytest.mark.django_db


@pytest.fixture
def principal(project_key):
    from janserver.auth import _load_key_principal
    from orgs.services import api_key_hash

    return _load_key_principal(api_key_hash(project_key[1]))


def begin(principal, conversation=None, key=None) -> Turn:
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    body |= {"store": True, "conversation": conversation}
    parsed = turn_request_parse(json.dumps(body).encode(), hashed=key is not None)
    turn = turn_begin(
        principal=principal,
        project_public_id=None,
        request=parsed,
        idempotency_key=key,
    )
    assert isinstance(turn, Turn)
    return turn


def reply(text: str = "Hello") -> Reply:
    message = {"role": "assistant", "content": text}
    return Reply(message=message, complete=True, completion={"id": "chatcmpl-1"})


def finish(jobs):
    with transaction.atomic():
        return turns_finish(jobs)


def test_a_batch_stores_new_and_existing_conversations_in_turn_order(
    principal, project
):
    existing = ConversationFactory(project=project, title="")
    ItemFactory(conversation=existing, position=1)
    Conversation.objects.filter(pk=existing.pk).update(last_position=1)
    first, second = (begin(principal, existing.public_id) for _ in range(2))
    new = begin(principal, key="k")
    outcomes = finish([(first, reply("A")), (new, reply("B")), (second, reply("C"))])
    assert [ok for ok, _ in outcomes] == [True, True, True]
    items = Item.objects.filter(conversation=existing).order_by("position")
    assert [(item.position, item.public_id) for item in items][1:] == [
        (2, first.ask_item_id),
        (3, first.completion_item_id),
        (4, second.ask_item_id),
        (5, second.completion_item_id),
    ]
    existing.refresh_from_db()
    assert (existing.last_position, existing.title) == (5, "Hi")
    created = Conversation.objects.get(public_id=new.conversation_id)
    assert created.last_position == 2
    positions = created.items.order_by("position").values_list("position", flat=True)
    assert list(positions) == [1, 2]
    key = IdempotencyKey.objects.get()
    assert (key.status, key.conversation_id) == ("completed", created.pk)


def kept_and_gone(principal, project):
    """Two conversations and a turn begun in each; the second deleted since."""
    kept, gone = (
        ConversationFactory(project=project),
        ConversationFactory(project=project),
    )
    turns = begin(principal, kept.public_id), begin(principal, gone.public_id)
    Conversation.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    return (kept, gone), turns


def test_a_conversation_deleted_meanwhile_fails_only_its_turn(principal, project):
    (kept, gone), (kept_turn, gone_turn) = kept_and_gone(principal, project)
    (kept_ok, _), (gone_ok, error) = finish(
        [(kept_turn, reply()), (gone_turn, reply())]
    )
    assert kept_ok
    assert not gone_ok
    assert isinstance(error, NotFound)
    assert Item.objects.filter(conversation=kept).count() == 2
    assert not Item.objects.filter(conversation=gone).exists()


def hop(jobs):
    """Run `jobs` as a write hop of their own would (see batching._run_all)."""
    work = [(turns_finish, job) for job in jobs]
    with CaptureQueriesContext(connection) as queries:
        outcomes = batching._run_all(work, atomic=True)
    savepoints = [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]
    return outcomes, savepoints


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_hop_of_turns_alone_commits_them_without_a_savepoint(principal, project):
    conversation = ConversationFactory(project=project)
    turns = [begin(principal, conversation.public_id) for _ in range(2)]
    outcomes, savepoints = hop([(turn, reply()) for turn in turns])
    assert [ok for ok, _ in outcomes] == [True, True]
    assert savepoints == []
    assert not connection.in_atomic_block  # committed, not left open
    assert Item.objects.filter(conversation=conversation).count() == 4


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_hop_of_turns_alone_falls_back_to_one_transaction_each(principal, project):
    """Without a transaction around it, a failed batch is rolled back whole and each
    turn is stored (or fails) on its own."""
    (kept, gone), (kept_turn, gone_turn) = kept_and_gone(principal, project)
    ((kept_ok, _), (gone_ok, error)), _ = hop(
        [(kept_turn, reply()), (gone_turn, reply())]
    )
    assert (kept_ok, gone_ok, type(error)) == (True, False, NotFound)
    assert Item.objects.filter(conversation=kept).count() == 2
    assert not Item.objects.filter(conversation=gone).exists()
    kept.refresh_from_db()
    assert kept.last_position == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_turns_sharing_a_hop_with_other_work_keep_their_savepoint(principal, project):
    conversation = ConversationFactory(project=project)
    turn = begin(principal, conversation.public_id)
    work = [
        (batching.each, (lambda: "other", {})),
        (turns_finish, (turn, reply())),
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = batching._run_all(work, atomic=True)
    assert outcomes[0] == (True, "other")
    assert outcomes[1][0]
    assert any("SAVEPOINT" in q["sql"] for q in queries.captured_queries)
    assert Item.objects.filter(conversation=conversation).count() == 2


def test_positions_without_update_returning(principal, project, monkeypatch):
    """Databases without UPDATE ... RETURNING (SQLite before 3.35) read counters back."""
    monkeypatch.setattr(positions, "_update_returns_rows", lambda connection: False)
    existing = ConversationFactory(project=project)
    first, second = (begin(principal, existing.public_id) for _ in range(2))
    outcomes = finish([(first, reply("A")), (second, reply("B"))])
    assert [ok for ok, _ in outcomes] == [True, True]
    stored = Item.objects.filter(conversation=existing).order_by("position")
    assert [(i.position, i.public_id) for i in stored] == [
        (1, first.ask_item_id),
        (2, first.completion_item_id),
        (3, second.ask_item_id),
        (4, second.completion_item_id),
    ]
    existing.refresh_from_db()
    assert existing.last_position == 4


def test_a_turn_stored_alone_leaves_the_cached_conversation_as_it_was(
    principal, project
):
    existing = ConversationFactory(project=project, title="Kept")
    turn = begin(principal, existing.public_id)
    cached = turn.conversation
    assert cached is begin(principal, existing.public_id).conversation  # shared
    stored = turn_finish(turn=turn, reply=reply())
    assert stored.last_position == 2
    assert stored is not cached
    assert cached.last_position == 0


@pytest.mark.parametrize("together", [True, False])
def test_upstream_text_the_database_refuses_is_stored_replaced(
    together, principal, project
):
    """NUL and lone surrogates in a reply (PostgreSQL refuses both) become U+FFFD
    in the stored items and the kept answer; the rest of the text is kept."""
    turn = begin(principal, key="k")
    bad = reply("a\x00b\ud800c")
    bad.completion["choices"] = [{"message": {"content": "\x00"}}]
    if together:
        outcomes = finish([(turn, bad), (begin(principal), reply("fine"))])
        assert [ok for ok, _ in outcomes] == [True, True]
    else:
        turn_finish(turn=turn, reply=bad)
    stored = Item.objects.get(public_id=turn.completion_item_id)
    assert stored.content[0]["text"] == "a\ufffdb\ufffdc"
    result = IdempotencyKey.objects.get().result
    assert result["completion"]["choices"] == [{"message": {"content": "\ufffd"}}]
