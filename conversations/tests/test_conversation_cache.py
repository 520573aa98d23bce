"""The conversation a conversation-aware completion continues, from the process cache."""

import pytest

from conversations.selectors import Caller, conversation_get_cached
from conversations.services import (
    conversation_delete,
    conversation_update,
    workspace_instruction_set,
)
from conversations.tests.factories import ConversationFactory, WorkspaceFactory
from janserver.errors import NotFound


@pytest.fixture
def conversation(db):
    workspace = WorkspaceFactory(instruction="Be brief.")
    return ConversationFactory(
        owner=workspace.owner, project=workspace.project, workspace=workspace
    )


def key_caller(conversation) -> Caller:
    return Caller(
        user=conversation.owner, via_key=True, project_id=conversation.project_id
    )


def test_a_warm_lookup_costs_no_query(conversation, django_assert_num_queries):
    caller = key_caller(conversation)
    with django_assert_num_queries(1):
        first = conversation_get_cached(caller=caller, public_id=conversation.public_id)
    with django_assert_num_queries(0):
        again = conversation_get_cached(caller=caller, public_id=conversation.public_id)
    assert again.pk == first.pk == conversation.pk
    assert again.workspace.instruction == "Be brief."
    assert again is first  # shared: callers read it, never change it


@pytest.mark.parametrize(
    "caller",
    [
        lambda c: Caller(user=c.owner, via_key=True, project_id=c.project_id + 1000),
        lambda c: Caller(user=ConversationFactory().owner, via_key=False),
        lambda c: Caller(user=c.owner, via_key=False, project_id=c.project_id + 1000),
    ],
)
def test_a_cached_conversation_stays_invisible_to_other_callers(conversation, caller):
    conversation_get_cached(
        caller=key_caller(conversation), public_id=conversation.public_id
    )
    with pytest.raises(NotFound):
        conversation_get_cached(
            caller=caller(conversation), public_id=conversation.public_id
        )


def test_changes_reach_the_cache_at_once(conversation):
    caller = key_caller(conversation)
    public_id = conversation.public_id
    conversation_get_cached(caller=caller, public_id=public_id)

    conversation_update(conversation=conversation, title="Renamed")
    assert (
        conversation_get_cached(caller=caller, public_id=public_id).title == "Renamed"
    )

    workspace_instruction_set(workspace=conversation.workspace, instruction="Be long.")
    cached = conversation_get_cached(caller=caller, public_id=public_id)
    assert cached.workspace.instruction == "Be long."

    conversation_delete(conversation=conversation)
    with pytest.raises(NotFound):
        conversation_get_cached(caller=caller, public_id=public_id)


def test_unknown_ids_are_not_found(db):
    caller = Caller(user=ConversationFactory().owner, via_key=False)
    with pytest.raises(NotFound):
        conversation_get_cached(caller=caller, public_id="conv_" + "x" * 42)
