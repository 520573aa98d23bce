"""The conversations admin: read-only pages, search by public id and owner email."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conversations.admin import INLINE_ITEMS
from conversations.models import (
    Conversation,
    Item,
    Response,
    StoredCompletion,
    Workspace,
)
from conversations.tests.factories import (
    ConversationFactory,
    ItemFactory,
    ResponseFactory,
    StoredCompletionFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


def _make_conversation():
    workspace = WorkspaceFactory()
    conversation = ConversationFactory(
        owner=workspace.owner, project=workspace.project, workspace=workspace
    )
    ItemFactory(conversation=conversation, position=1)
    return conversation


def _make_response():
    conversation = _make_conversation()
    return ResponseFactory(
        owner=conversation.owner,
        project=conversation.project,
        conversation=conversation,
        previous_response=ResponseFactory(),
    )


MAKERS = {
    Conversation: _make_conversation,
    Workspace: WorkspaceFactory,
    Response: _make_response,
    StoredCompletion: StoredCompletionFactory,
}


def _url(model, page, pk=None):
    name = f"admin:conversations_{model._meta.model_name}_{page}"
    return reverse(name, args=[pk] if pk else [])


@pytest.mark.parametrize("model", MAKERS, ids=lambda model: model.__name__)
def test_pages_render_and_nothing_can_be_added_or_changed(admin_client, model):
    obj = MAKERS[model]()
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    change = admin_client.get(_url(model, "change", obj.pk))
    assert change.status_code == 200
    assert obj.public_id in change.text
    assert admin_client.get(_url(model, "add")).status_code == 403
    assert admin_client.post(_url(model, "change", obj.pk), {}).status_code == 403


@pytest.mark.parametrize("model", MAKERS, ids=lambda model: model.__name__)
def test_changelist_queries_do_not_grow_with_rows(admin_client, model):
    MAKERS[model]()
    admin_client.get(_url(model, "changelist"))
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(_url(model, "changelist"))
    MAKERS[model]()
    MAKERS[model]()
    with CaptureQueriesContext(connection) as three_rows:
        admin_client.get(_url(model, "changelist"))
    assert len(three_rows) == len(one_row)


@pytest.mark.parametrize("model", MAKERS, ids=lambda model: model.__name__)
@pytest.mark.parametrize("term", ["public_id", "owner_email"])
def test_search_by_public_id_or_owner_email_finds_only_the_match(
    admin_client, model, term
):
    target, _other = MAKERS[model](), MAKERS[model]()
    query = target.public_id if term == "public_id" else target.owner.email
    response = admin_client.get(_url(model, "changelist"), {"q": query})
    assert list(response.context["cl"].result_list) == [target]


def test_a_conversation_page_shows_its_newest_items_only(admin_client):
    conversation = ConversationFactory()
    Item.objects.bulk_create(
        ItemFactory.build(conversation=conversation, position=position)
        for position in range(1, INLINE_ITEMS + 11)
    )
    response = admin_client.get(_url(Conversation, "change", conversation.pk))
    shown = response.context["inline_admin_formsets"][0].formset.queryset
    assert [item.position for item in shown] == list(range(INLINE_ITEMS + 10, 10, -1))


def test_the_delete_action_soft_deletes(admin_client):
    selected, other = ConversationFactory(), ConversationFactory()
    data = {"action": "delete_conversations", "_selected_action": [selected.pk]}
    response = admin_client.post(_url(Conversation, "changelist"), data, follow=True)
    assert "Deleted 1 conversation(s)." in response.text
    selected.refresh_from_db()
    other.refresh_from_db()
    assert selected.deleted_at is not None
    assert other.deleted_at is None
    assert Conversation.objects.count() == 2
