"""Conversations API: create, retrieve, update, delete, list, and who sees what."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from conversations.models import Conversation
from conversations.tests.conftest import Api, key_api_for, user_api_for
from conversations.tests.factories import ConversationFactory, WorkspaceFactory
from orgs.models import Project
from orgs.services import api_key_revoke
from orgs.tests.factories import OrganizationMemberFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def error(message: str, param: str | None, code: str = "invalid_value") -> dict:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def conversation_body(public_id: str) -> dict:
    conversation = Conversation.objects.select_related("workspace").get(
        public_id=public_id
    )
    workspace_id = conversation.workspace.public_id if conversation.workspace else None
    return {
        "id": conversation.public_id,
        "object": "conversation",
        "created_at": int(conversation.created_at.timestamp()),
        "metadata": conversation.metadata,
        "title": conversation.title or None,
        "workspace_id": workspace_id,
        "project_id": workspace_id,
    }


def test_create_a_conversation_with_items_metadata_and_title(key_api, project, user):
    """The conversation belongs to the key's project and owner; items keep their order."""
    body = {
        "title": "  Trip  ",
        "metadata": {"topic": "travel"},
        "items": [
            {"type": "message", "role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where to?"},
        ],
    }
    response = key_api.post("/conversations", body)
    assert response.status_code == 200
    created = response.json()
    assert created == conversation_body(created["id"])
    assert (created["title"], created["metadata"]) == ("Trip", {"topic": "travel"})
    assert len(created["id"]) == len("conv_") + 42
    conversation = Conversation.objects.get(public_id=created["id"])
    assert (conversation.project, conversation.owner) == (project, user)
    items = conversation.items.order_by("position")
    assert [(i.position, i.role) for i in items] == [(1, "system"), (2, "user")]
    assert conversation.last_position == 2


def test_create_without_a_body_makes_an_empty_conversation(key_api):
    response = key_api.post("/conversations")
    created = response.json()
    assert created == {**conversation_body(created["id"]), "metadata": {}}
    assert (created["title"], created["workspace_id"]) == (None, None)


def test_a_login_user_creates_in_their_personal_project(user, user_api):
    """Without OpenAI-Project, a user's conversations go to their Default Project."""
    created = user_api.post("/conversations").json()
    project = Conversation.objects.get(public_id=created["id"]).project
    assert project.name == settings.DEFAULT_PROJECT_NAME
    assert project.organization.is_default
    assert list(project.members.all()) == [user]


def test_a_login_user_may_name_a_project_they_belong_to(user, project_key, default_org):
    api_key, _ = project_key
    api = user_api_for(user, **{"OpenAI-Project": api_key.project.public_id})
    created = api.post("/conversations").json()
    assert Conversation.objects.get(public_id=created["id"]).project == api_key.project
    assert api.get("/conversations").json()["data"] == [created]


@pytest.mark.parametrize("kind", ["user-not-member", "key-other-project", "unknown"])
def test_naming_a_project_the_caller_may_not_use_is_not_found(kind, project, user):
    other = ProjectFactory()
    if kind == "user-not-member":
        api, named = user_api_for(user), other.public_id
    elif kind == "key-other-project":
        api, named = key_api_for(project, user), other.public_id
    else:
        api, named = user_api_for(user), "proj_unknown"
    api.headers["OpenAI-Project"] = named
    response = api.post("/conversations")
    assert response.status_code == 404
    assert response.json() == error(
        f"No project {named!r}.", "OpenAI-Project", "not_found"
    )
    assert not Conversation.objects.exists()


def test_admin_keys_and_anonymous_callers_are_refused(client, admin_key):
    _, secret = admin_key
    response = Api(secret).get("/conversations")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Admin API keys can only use organization admin routes."
    )
    assert client.get("/v1/conversations").status_code == 401


def test_retrieve_update_patch_and_delete(key_api):
    """POST replaces metadata (OpenAI); PATCH sets title and/or metadata (Jan)."""
    created = key_api.post("/conversations", {"metadata": {"a": "1"}}).json()
    path = f"/conversations/{created['id']}"
    assert key_api.get(path).json() == created
    updated = key_api.post(path, {"metadata": {"b": "2"}}).json()
    assert updated == {**created, "metadata": {"b": "2"}}
    titled = key_api.patch(path, {"title": "Named"}).json()
    assert titled == {**updated, "title": "Named"}
    cleared = key_api.patch(path, {"metadata": None, "title": None}).json()
    assert cleared == {**created, "metadata": {}, "title": None}
    assert key_api.post(path, {"metadata": None}).json()["metadata"] == {}
    deleted = key_api.delete(path)
    assert deleted.json() == {
        "id": created["id"],
        "object": "conversation.deleted",
        "deleted": True,
    }


def test_a_deleted_conversation_is_gone_everywhere(key_api):
    """Soft-deleted: not found, not listed, its items unreachable; the row stays."""
    created = key_api.post(
        "/conversations", {"items": [{"role": "user", "content": "x"}]}
    )
    public_id = created.json()["id"]
    key_api.delete(f"/conversations/{public_id}")
    missing = error(
        f"No conversation with id {public_id!r}.", "conversation_id", "not_found"
    )
    for method, path in [
        ("get", ""),
        ("post", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "/items"),
        ("post", "/items"),
    ]:
        response = getattr(key_api, method)(f"/conversations/{public_id}{path}")
        assert (response.status_code, response.json()) == (404, missing)
    assert key_api.get("/conversations").json()["data"] == []
    assert Conversation.objects.get(public_id=public_id).deleted_at is not None


def _conversations(count: int, **fields) -> list[Conversation]:
    """Conversations with increasing creation times (oldest first)."""
    start = timezone.now() - timedelta(hours=1)
    return [
        ConversationFactory(created_at=start + timedelta(seconds=i), **fields)
        for i in range(count)
    ]


def test_list_is_newest_first_and_pages_with_after(key_api, project, user):
    conversations = _conversations(5, project=project, owner=user)
    ids = [c.public_id for c in reversed(conversations)]
    first = key_api.get("/conversations", {"limit": 2}).json()
    assert first == {
        "object": "list",
        "data": [conversation_body(public_id) for public_id in ids[:2]],
        "first_id": ids[0],
        "last_id": ids[1],
        "has_more": True,
    }
    rest = key_api.get("/conversations", {"limit": 5, "after": ids[1]}).json()
    assert ([c["id"] for c in rest["data"]], rest["has_more"]) == (ids[2:], False)
    oldest = key_api.get("/conversations", {"order": "asc", "limit": 1}).json()
    assert oldest["data"][0]["id"] == ids[-1]
    assert key_api.get("/conversations", {"last": ids[3]}).json()["data"] == [
        conversation_body(ids[4])
    ]


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"limit": 0}, "limit", "Ensure this value is greater than or equal to 1."),
        ({"limit": 101}, "limit", "Ensure this value is less than or equal to 100."),
        ({"order": "up"}, "order", '"up" is not a valid choice.'),
        (
            {"after": "conv_nope"},
            "after",
            "The cursor 'conv_nope' is not an object of this list.",
        ),
    ],
)
def test_list_refuses_bad_parameters(key_api, params, param, message):
    response = key_api.get("/conversations", params)
    assert (response.status_code, response.json()) == (400, error(message, param))


def test_list_filters_by_workspace(user, user_api):
    workspace = WorkspaceFactory(owner=user)
    inside = _conversations(
        2, owner=user, project=workspace.project, workspace=workspace
    )
    outside = _conversations(1, owner=user)
    ConversationFactory(workspace=WorkspaceFactory())  # someone else's

    def ids(params):
        return [c["id"] for c in user_api.get("/conversations", params).json()["data"]]

    assert ids({"workspace_id": workspace.public_id}) == [
        c.public_id for c in reversed(inside)
    ]
    assert ids({"workspace_id": "none"}) == [outside[0].public_id]
    assert ids({"workspace_id": "ws_unknown"}) == []
    assert len(ids({})) == 3


def test_list_runs_a_fixed_number_of_queries(
    key_api, project, user, settings, django_assert_num_queries
):
    """Thirty conversations with workspaces are one query; with a cursor, two."""
    settings.API_KEY_LAST_USED_FLUSH_SECONDS = 3600
    key_api.get("/conversations")  # warm the credential cache
    workspace = WorkspaceFactory(project=project, owner=user)
    _conversations(30, project=project, owner=user, workspace=workspace)
    cursor = Conversation.objects.order_by("-created_at")[2].public_id
    with django_assert_num_queries(1):
        assert len(key_api.get("/conversations", {"limit": 100}).json()["data"]) == 30
    with django_assert_num_queries(2):
        key_api.get("/conversations", {"after": cursor})


def test_who_sees_which_conversations(project, user, default_org):
    """A key sees its project's; a user sees their own, made by them or their keys."""
    teammate = UserFactory()
    mine_by_key = key_api_for(project, user)
    teammate_key = key_api_for(project, teammate)
    mine = user_api_for(user)
    by_my_key = mine_by_key.post("/conversations").json()["id"]
    by_teammate = teammate_key.post("/conversations").json()["id"]
    by_me = mine.post("/conversations").json()["id"]  # in my personal project

    def listed(api):
        return {c["id"] for c in api.get("/conversations").json()["data"]}

    assert listed(mine_by_key) == listed(teammate_key) == {by_my_key, by_teammate}
    assert listed(mine) == {by_my_key, by_me}
    assert mine.get(f"/conversations/{by_teammate}").status_code == 404
    assert mine_by_key.get(f"/conversations/{by_me}").status_code == 404


def test_a_member_of_an_organization_sees_nothing_of_its_projects(project, user):
    """Membership of the organization alone grants no conversation."""
    conversation = ConversationFactory(project=project)
    OrganizationMemberFactory(
        organization=project.organization, user=user, role="owner"
    )
    api = user_api_for(user)
    assert api.get(f"/conversations/{conversation.public_id}").status_code == 404


def test_a_revoked_key_loses_access(project_key):
    api_key, secret = project_key
    conversation = ConversationFactory(project=api_key.project, owner=api_key.owner)
    api = Api(secret)
    assert api.get(f"/conversations/{conversation.public_id}").status_code == 200
    api_key_revoke(api_key=api_key)
    assert api.get(f"/conversations/{conversation.public_id}").status_code == 401


def test_project_of_a_conversation_made_in_a_workspace_is_the_workspaces(
    user, user_api
):
    workspace = WorkspaceFactory(owner=user)
    created = user_api.post("/conversations", {"workspace_id": workspace.public_id})
    assert created.json()["workspace_id"] == workspace.public_id
    conversation = Conversation.objects.get(public_id=created.json()["id"])
    assert conversation.project == workspace.project
    assert not Project.objects.filter(name=settings.DEFAULT_PROJECT_NAME).exists()


@pytest.mark.parametrize("body", [b"null", b"[]", b"3"])
def test_a_body_that_is_not_an_object_is_refused(key_api, body):
    response = key_api.client.post(
        "/v1/conversations",
        body,
        content_type="application/json",
        headers=key_api.headers,
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert not Conversation.objects.exists()
