"""Item position counters: advanced in one statement, deleted conversations left out."""

import pytest
from django.utils import timezone

from conversations import positions
from conversations.models import Conversation
from conversations.tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("returning", [True, False])
def test_counters_advance_live_conversations_only(monkeypatch, returning):
    if not returning:  # a database without UPDATE ... RETURNING
        monkeypatch.setattr(positions, "_update_returns_rows", lambda connection: False)
    live, other, gone = (ConversationFactory() for _ in range(3))
    Conversation.objects.filter(pk=other.pk).update(last_position=5)
    Conversation.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    now = timezone.now()
    advanced = positions.counters_advance({live.pk: 2, other.pk: 3, gone.pk: 1}, now)
    assert advanced == {live.pk: 2, other.pk: 8}
    live.refresh_from_db()
    gone.refresh_from_db()
    assert (live.last_position, live.updated_at) == (2, now)
    assert gone.last_position == 0
