"""Conversation services: item positions, response links, deletes; caller resolution."""

import threading

import pytest
from django.db import connection

from accounts.tokens import tokens_issue
from conversations.models import Conversation, Item
from conversations.selectors import Caller, caller_get, conversation_list
from conversations.services import (
    conversation_create,
    conversation_delete,
    conversation_items_append,
    workspace_create,
)
from conversations.tests.factories import ConversationFactory, ResponseFactory
from janserver.auth import authenticate
from janserver.errors import InvalidRequest, NotFound
from orgs.services import project_archive
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory

USER_MESSAGE = {"role": "user", "content": "hi"}


@pytest.mark.django_db
def test_appends_continue_after_the_last_position(user, project):
    caller = Caller(user=user, via_key=True, project_id=project.pk)
    conversation = conversation_create(caller=caller, items=[USER_MESSAGE] * 3)
    appended = conversation_items_append(
        conversation=conversation, items=[USER_MESSAGE] * 2
    )
    assert [item.position for item in appended] == [4, 5]
    assert conversation.last_position == 5
    Item.objects.filter(position=5).delete()
    again = conversation_items_append(conversation=conversation, items=[USER_MESSAGE])
    assert again[0].position == 6


@pytest.mark.django_db
def test_appended_items_may_link_a_response():
    response = ResponseFactory()
    conversation = ConversationFactory(project=response.project, owner=response.owner)
    items = conversation_items_append(
        conversation=conversation, items=[USER_MESSAGE], response=response
    )
    assert list(response.items.all()) == items


@pytest.mark.django_db
def test_appending_to_a_deleted_conversation_is_not_found():
    conversation = ConversationFactory()
    conversation_delete(conversation=conversation)
    with pytest.raises(NotFound):
        conversation_items_append(conversation=conversation, items=[USER_MESSAGE])
    assert not Item.objects.exists()


@pytest.mark.django_db
def test_the_item_limit_per_call_can_be_raised_by_internal_callers():
    """Completions store a whole reply at once; the API keeps the limit of 20."""
    conversation = ConversationFactory()
    items = conversation_items_append(
        conversation=conversation, items=[USER_MESSAGE] * 25, max_items=50
    )
    assert len(items) == 25
    with pytest.raises(InvalidRequest):
        conversation_items_append(conversation=conversation, items=[])


@pytest.mark.django_db
def test_a_user_without_a_project_gets_their_personal_project_once(user, default_org):
    caller = Caller(user=user, via_key=False)
    first = conversation_create(caller=caller)
    workspace = workspace_create(caller=caller, name="W")
    assert first.project == workspace.project
    assert first.project.organization == default_org


@pytest.mark.django_db
def test_an_archived_project_cannot_be_named(rf, user):
    project = ProjectMemberFactory(user=user).project
    principal = _principal(rf, user)
    assert caller_get(principal=principal, project_public_id=project.public_id)
    project_archive(project=project)
    with pytest.raises(NotFound):
        caller_get(principal=principal, project_public_id=project.public_id)


def _principal(rf, user):
    token = tokens_issue(user=user).access
    return authenticate(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {token}"))


@pytest.mark.django_db
def test_a_users_project_header_narrows_what_they_see(rf, user):
    named = ProjectMemberFactory(user=user).project
    inside = ConversationFactory(owner=user, project=named)
    ConversationFactory(owner=user, project=ProjectFactory())
    caller = caller_get(
        principal=_principal(rf, user), project_public_id=named.public_id
    )
    assert list(conversation_list(caller=caller)) == [inside]


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite serializes writers outright."
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_appends_never_share_a_position():
    """Writers racing on one conversation get disjoint, contiguous positions."""
    conversation = ConversationFactory()
    results: list[list[int]] = []
    barrier = threading.Barrier(4)

    def append() -> None:
        try:
            barrier.wait()
            for _ in range(5):
                items = conversation_items_append(
                    conversation=Conversation.objects.get(pk=conversation.pk),
                    items=[USER_MESSAGE] * 3,
                )
                results.append([item.position for item in items])
        finally:
            connection.close()

    threads = [threading.Thread(target=append) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p for batch in results for p in batch) == list(range(1, 61))
    assert all(batch == list(range(batch[0], batch[0] + 3)) for batch in results)
