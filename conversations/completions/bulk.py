"""Storing many finished turns at once: a few statements for a whole batch.

Under load, turns finish together; one by one each costs a handful of statements
(position counter, read-back, items, savepoints). Here a batch costs one INSERT of the
new conversations, one UPDATE and one SELECT of the existing ones' position counters,
and one INSERT of all items. Anything unusual (a conversation deleted meanwhile, a
failing statement) rolls the batch back and stores its turns one by one instead, so
each turn still succeeds or fails on its own.
"""

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.completions.batching import Outcome, self_contained
from conversations.completions.services import (
    Reply,
    Turn,
    new_conversation,
    turn_finish,
    turn_items,
    turn_key_settle,
)
from conversations.models import Conversation, Item
from conversations.positions import counters_advance
from conversations.selectors import CACHE_KIND
from janserver import auth_cache, db

logger = logging.getLogger("janserver.conversations")

Job = tuple[Turn, Reply]


class _Fallback(Exception):
    """The batch cannot be stored together; store its turns one by one."""


@self_contained
def turns_finish(jobs: list[Job]) -> list[Outcome]:
    """Finish many turns (see turn_finish); return (True, conversation) or
    (False, error) for each, in order: together in one transaction (a savepoint
    inside the caller's), or one by one when that fails."""
    try:
        with transaction.atomic():
            return _finish_together(jobs)
    except Exception as error:
        if not isinstance(error, _Fallback):
            logger.warning("Batch of %d turns stored one by one: %r", len(jobs), error)
    return [_finish_alone(turn, reply) for turn, reply in jobs]


def _finish_alone(turn: Turn, reply: Reply) -> Outcome:
    try:
        with transaction.atomic():
            return True, turn_finish(turn=turn, reply=reply)
    except Exception as error:
        return False, error


Stored = list[tuple[Turn, list[dict[str, Any]]]]
# Conversations by public id, and the next free position in each.
Placed = tuple[dict[str, Conversation], dict[str, int]]


def _finish_together(jobs: list[Job]) -> list[Outcome]:
    now = timezone.now()
    stored: Stored = [
        (turn, turn_items(turn, reply)) for turn, reply in jobs if turn.store
    ]
    conversations, cursors = _conversations_create(stored, now)
    existing, existing_cursors = _positions_reserve(stored, now)
    conversations.update(existing)
    cursors.update(existing_cursors)
    items = []
    for turn, fields in stored:
        key = str(turn.conversation_id)
        first, cursors[key] = cursors[key], cursors[key] + len(fields)
        placed = {"conversation_id": conversations[key].pk, "created_at": now}
        items += [
            {**f, **placed, "position": first + offset}
            for offset, f in enumerate(fields)
        ]
    db.insert_many(Item, items)
    outcomes: list[Outcome] = []
    for turn, reply in jobs:
        stored_in = conversations[str(turn.conversation_id)] if turn.store else None
        turn_key_settle(turn=turn, reply=reply, conversation=stored_in)
        outcomes.append((True, stored_in))
    return outcomes


def _conversations_create(stored: Stored, now: datetime) -> Placed:
    """Insert the new conversations, their counters already past their items."""
    new = []
    for turn, fields in stored:
        if turn.conversation is None:
            conversation = new_conversation(turn)
            conversation.last_position = len(fields)
            conversation.created_at = conversation.updated_at = now
            new.append(conversation)
    created = Conversation.objects.bulk_create(new)
    if any(conversation.pk is None for conversation in created):
        raise _Fallback()  # a database that cannot return the new keys
    return {c.public_id: c for c in created}, {c.public_id: 1 for c in created}


def _positions_reserve(stored: Stored, now: datetime) -> Placed:
    """Advance the existing conversations' counters past this batch's items (which
    takes their row locks) and title the untitled ones."""
    counts: dict[int, int] = defaultdict(int)
    existing: dict[str, Conversation] = {}
    for turn, fields in stored:
        if turn.conversation is not None:
            counts[turn.conversation.pk] += len(fields)
            existing[turn.conversation.public_id] = turn.conversation
    if not counts:
        return {}, {}
    last = counters_advance(counts, now)
    if len(last) != len(counts):
        raise _Fallback()  # deleted meanwhile: that turn fails on its own
    for turn, _fields in stored:
        conversation = turn.conversation
        if conversation is not None and not conversation.title and turn.title:
            Conversation.objects.filter(pk=conversation.pk, title="").update(
                title=turn.title
            )
            auth_cache.invalidate(CACHE_KIND, conversation.public_id)
    cursors = {key: last[c.pk] - counts[c.pk] + 1 for key, c in existing.items()}
    return existing, cursors
