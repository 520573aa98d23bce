"""Jan's workspaces (/v1/conv/workspaces) and moving conversations between them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Workspace
from conversations.tests.conftest import key_api_for, user_api_for
from conversations.tests.factories import ConversationFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def rfc3339(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def workspace_body(public_id: str) -> dict:
    workspace = Workspace.objects.get(public_id=public_id)
    return {
        "id": workspace.public_id,
        "object": "workspace",
        "name": workspace.name,
        "instruction": workspace.instruction,
        "created_at": rfc3339(workspace.created_at),
        "updated_at": rfc3339(workspace.updated_at),
    }


def test_create_get_rename_and_set_the_instruction(user, user_api):
    response = user_api.post(
        "/conv/workspaces", {"name": " Research ", "instruction": "Cite sources."}
    )
    assert response.status_code == 201
    created = response.json()
    assert created == workspace_body(created["id"])
    assert (created["name"], created["instruction"]) == ("Research", "Cite sources.")
    assert created["id"].startswith("ws_")
    path = f"/conv/workspaces/{created['id']}"
    assert user_api.get(path).json() == created
    renamed = user_api.patch(path, {"name": "Papers"}).json()
    assert renamed == {**workspace_body(created["id"]), "name": "Papers"}
    instructed = user_api.patch(f"{path}/instruction", {"instruction": "  Be terse.\n"})
    assert instructed.json() == workspace_body(created["id"])
    assert instructed.json()["instruction"] == "  Be terse.\n"
    cleared = user_api.patch(f"{path}/instruction", {"instruction": None}).json()
    assert cleared["instruction"] == ""
    assert Workspace.objects.get().owner == user


def test_list_pages_oldest_first(user, user_api):
    start = timezone.now() - timedelta(hours=1)
    workspaces = [
        WorkspaceFactory(owner=user, created_at=start + timedelta(seconds=i))
        for i in range(3)
    ]
    WorkspaceFactory()  # someone else's
    page = user_api.get("/conv/workspaces", {"limit": 2}).json()
    assert page == {
        "object": "list",
        "data": [workspace_body(w.public_id) for w in workspaces[:2]],
        "first_id": workspaces[0].public_id,
        "last_id": workspaces[1].public_id,
        "has_more": True,
    }
    rest = user_api.get("/conv/workspaces", {"after": page["last_id"]}).json()
    assert [w["id"] for w in rest["data"]] == [workspaces[2].public_id]


def test_list_runs_a_fixed_number_of_queries(user, user_api, django_assert_num_queries):
    WorkspaceFactory.create_batch(20, owner=user)
    user_api.get("/conv/workspaces")  # warm the credential cache
    with django_assert_num_queries(1):
        assert len(user_api.get("/conv/workspaces").json()["data"]) == 20


@pytest.mark.parametrize(
    ("path", "method", "body", "param", "message"),
    [
        ("", "post", {"name": ""}, "name", "This field may not be blank."),
        ("", "post", {"name": "   "}, "name", "This field may not be blank."),
        (
            "",
            "post",
            {"name": "n" * 51},
            "name",
            "Ensure this field has no more than 50 characters.",
        ),
        ("", "post", {}, "name", "This field is required."),
        (
            "",
            "post",
            {"name": "n", "title": "t"},
            "title",
            "Unknown parameter: 'title'.",
        ),
        (
            "/{id}",
            "patch",
            {"name": "n" * 51},
            "name",
            "Ensure this field has no more than 50 characters.",
        ),
        ("/{id}/instruction", "patch", {}, "instruction", "This field is required."),
        (
            "/{id}/instruction",
            "patch",
            {"instruction": "x" * 11},
            "instruction",
            "The instruction is too long: at most 10 characters.",
        ),
    ],
)
def test_bad_input_is_refused(
    user, user_api, settings, path, method, body, param, message
):
    settings.CONVERSATION_TEXT_MAX_CHARS = 10
    workspace = WorkspaceFactory(owner=user, name="Kept")
    before = workspace_body(workspace.public_id)
    response = getattr(user_api, method)(
        "/conv/workspaces" + path.format(id=workspace.public_id), body
    )
    assert response.status_code == 400
    assert (response.json()["error"]["param"], response.json()["error"]["message"]) == (
        param,
        message,
    )
    assert workspace_body(workspace.public_id) == before
    assert Workspace.objects.count() == 1


def test_delete_soft_deletes_its_conversations(user, user_api):
    workspace = WorkspaceFactory(owner=user)
    inside = ConversationFactory(
        owner=user, project=workspace.project, workspace=workspace
    )
    outside = ConversationFactory(owner=user)
    response = user_api.delete(f"/conv/workspaces/{workspace.public_id}")
    assert response.json() == {
        "id": workspace.public_id,
        "object": "workspace.deleted",
        "deleted": True,
    }
    assert not Workspace.objects.exists()
    assert user_api.get(f"/conversations/{inside.public_id}").status_code == 404
    assert Conversation.objects.get(pk=inside.pk).deleted_at is not None
    assert user_api.get(f"/conversations/{outside.public_id}").status_code == 200


def test_a_key_creates_workspaces_in_its_project(key_api, project, user):
    created = key_api.post("/conv/workspaces", {"name": "Keyed"}).json()
    workspace = Workspace.objects.get(public_id=created["id"])
    assert (workspace.project, workspace.owner) == (project, user)


def test_move_a_conversation_into_and_out_of_a_workspace(user, user_api):
    workspace = WorkspaceFactory(owner=user)
    conversation = ConversationFactory(owner=user, project=workspace.project)
    path = f"/conversations/{conversation.public_id}/workspace"
    moved = user_api.patch(path, {"workspace_id": workspace.public_id}).json()
    assert moved["workspace_id"] == workspace.public_id
    assert user_api.get(f"/conversations/{conversation.public_id}").json() == moved
    out = user_api.patch(path, {"workspace_id": None}).json()
    assert out == {**moved, "workspace_id": None, "project_id": None}


def test_a_workspace_of_another_project_is_not_found_for_a_conversation(user, user_api):
    """A conversation and its workspace share a project."""
    workspace = WorkspaceFactory(owner=user)
    conversation = ConversationFactory(owner=user)  # another project
    path = f"/conversations/{conversation.public_id}/workspace"
    response = user_api.patch(path, {"workspace_id": workspace.public_id})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": f"No workspace with id {workspace.public_id!r}.",
        "type": "invalid_request_error",
        "param": "workspace_id",
        "code": "not_found",
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "workspace_id"), ({"workspace_id": ["ws_1"]}, "workspace_id")],
)
def test_moving_needs_a_workspace_id_or_null(user, user_api, body, param):
    conversation = ConversationFactory(owner=user)
    response = user_api.patch(
        f"/conversations/{conversation.public_id}/workspace", body
    )
    assert (response.status_code, response.json()["error"]["param"]) == (400, param)


def test_a_key_sees_its_projects_workspaces_only(project, user, default_org):
    ours = WorkspaceFactory(project=project)
    mine_elsewhere = WorkspaceFactory(owner=user)
    api = key_api_for(project, user)
    listed = [w["id"] for w in api.get("/conv/workspaces").json()["data"]]
    assert listed == [ours.public_id]
    assert api.get(f"/conv/workspaces/{mine_elsewhere.public_id}").status_code == 404
    assert [
        w["id"] for w in user_api_for(user).get("/conv/workspaces").json()["data"]
    ] == [mine_elsewhere.public_id]
