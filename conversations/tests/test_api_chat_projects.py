"""Jan's chat projects (/v1/projects): the workspaces of /v1/conv/workspaces under
Jan's newer name, and conversations filed in them by `project_id`."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Workspace
from conversations.tests.conftest import key_api_for
from conversations.tests.factories import ConversationFactory, WorkspaceFactory
from orgs.models import Project

pytestmark = pytest.mark.django_db


def unix(value) -> int | None:
    return None if value is None else int(value.timestamp())


def project_body(public_id: str) -> dict:
    workspace = Workspace.objects.get(public_id=public_id)
    return {
        "id": workspace.public_id,
        "object": "project",
        "name": workspace.name,
        "instruction": workspace.instruction or None,
        "is_favorite": workspace.is_favorite,
        "is_archived": workspace.archived_at is not None,
        "archived_at": unix(workspace.archived_at),
        "created_at": unix(workspace.created_at),
        "updated_at": unix(workspace.updated_at),
    }


def error(message: str, param: str | None, code: str = "invalid_value") -> dict:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def test_create_retrieve_update_and_delete(user, user_api):
    """One model, both routes: a chat project is the workspace of the same id."""
    response = user_api.post(
        "/projects", {"name": " Research ", "instruction": "Cite sources."}
    )
    assert response.status_code == 201
    created = response.json()
    assert created == project_body(created["id"])
    assert (created["name"], created["instruction"]) == ("Research", "Cite sources.")
    assert (created["is_favorite"], created["is_archived"]) == (False, False)
    path = f"/projects/{created['id']}"
    assert user_api.get(path).json() == created
    workspace = user_api.get(f"/conv/workspaces/{created['id']}").json()
    assert (workspace["name"], workspace["instruction"]) == (
        "Research",
        "Cite sources.",
    )

    favorite = user_api.patch(path, {"is_favorite": True, "name": "Papers"}).json()
    assert favorite == project_body(created["id"])
    assert (favorite["name"], favorite["is_favorite"]) == ("Papers", True)
    archived = user_api.patch(path, {"is_archived": True}).json()
    assert archived == project_body(created["id"])
    assert archived["is_archived"] is True
    assert archived["archived_at"] is not None
    again = user_api.patch(path, {"is_archived": True}).json()
    assert again["archived_at"] == archived["archived_at"]  # the first time is kept
    restored = user_api.patch(path, {"is_archived": False, "instruction": None})
    assert restored.json() == {
        **project_body(created["id"]),
        "is_archived": False,
        "archived_at": None,
        "instruction": None,
    }

    deleted = user_api.delete(path)
    assert deleted.json() == {
        "object": "project.deleted",
        "id": created["id"],
        "deleted": True,
    }
    assert user_api.get(path).status_code == 404
    assert not Workspace.objects.filter(owner=user).exists()


def test_create_with_every_field(user_api):
    created = user_api.post(
        "/projects", {"name": "Fav", "is_favorite": True, "is_archived": True}
    ).json()
    assert created == project_body(created["id"])
    assert (created["is_favorite"], created["is_archived"]) == (True, True)
    assert created["instruction"] is None


def test_list_hides_archived_projects_unless_asked(user, user_api):
    start = timezone.now() - timedelta(hours=1)
    kept = [
        WorkspaceFactory(owner=user, created_at=start + timedelta(seconds=i))
        for i in range(3)
    ]
    archived = WorkspaceFactory(
        owner=user, created_at=start + timedelta(seconds=9), archived_at=timezone.now()
    )
    WorkspaceFactory()  # someone else's
    page = user_api.get("/projects", {"limit": 2}).json()
    assert page == {
        "object": "list",
        "data": [project_body(kept[2].public_id), project_body(kept[1].public_id)],
        "first_id": kept[2].public_id,
        "last_id": kept[1].public_id,
        "has_more": True,
    }
    rest = user_api.get("/projects", {"after": kept[1].public_id}).json()
    assert [p["id"] for p in rest["data"]] == [kept[0].public_id]
    everything = user_api.get("/projects", {"include_archived": "true"}).json()
    assert [p["id"] for p in everything["data"]] == [
        archived.public_id,
        *[w.public_id for w in reversed(kept)],
    ]


def test_list_makes_one_query_per_page(user, user_api, django_assert_num_queries):
    for _ in range(3):
        WorkspaceFactory(owner=user)
    user_api.get("/projects")  # warm the caches
    with django_assert_num_queries(1):
        assert len(user_api.get("/projects").json()["data"]) == 3


@pytest.mark.parametrize(
    ("method", "body", "expected"),
    [
        (
            "post",
            {},
            error("This field is required.", "name", "missing_required_parameter"),
        ),
        ("post", {"name": ""}, error("This field may not be blank.", "name")),
        ("post", {"name": "x" * 51}, None),
        (
            "post",
            {"name": "a", "is_favorite": "yes"},
            error("Must be a boolean (true or false).", "is_favorite"),
        ),
        (
            "post",
            {"name": "a", "is_archived": 1},
            error("Must be a boolean (true or false).", "is_archived"),
        ),
        (
            "post",
            {"name": "a", "title": "b"},
            error("Unknown parameter: 'title'.", "title"),
        ),
        ("patch", {}, None),
        ("patch", {"instruction": ["x"]}, error("Not a valid string.", "instruction")),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(
    user, user_api, method, body, expected
):
    existing = WorkspaceFactory(owner=user, name="Kept")
    path = "/projects" if method == "post" else f"/projects/{existing.public_id}"
    response = getattr(user_api, method)(path, body)
    assert response.status_code == 400
    if expected is not None:
        assert response.json() == expected
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert list(Workspace.objects.values_list("name", flat=True)) == ["Kept"]


def test_another_callers_project_is_not_found(user_api, project):
    foreign = WorkspaceFactory()
    for method in ("get", "patch", "delete"):
        send = getattr(user_api, method)
        path = f"/projects/{foreign.public_id}"
        response = send(path) if method != "patch" else send(path, {"name": "x"})
        assert response.status_code == 404
        assert response.json() == error(
            f"No project with id {foreign.public_id!r}.", "project_id", "not_found"
        )
    assert Workspace.objects.get().name == foreign.name


def test_a_project_key_shares_its_projects_chat_projects(project, user):
    """A project key sees the chat projects of its organization project, whoever
    made them; chat projects are no organization projects."""
    mine = WorkspaceFactory(owner=user, project=project)
    api = key_api_for(project)
    created = api.post("/projects", {"name": "Team"}).json()
    listed = api.get("/projects").json()
    assert {p["id"] for p in listed["data"]} == {mine.public_id, created["id"]}
    assert not Project.objects.filter(public_id=created["id"]).exists()
    assert Workspace.objects.get(public_id=created["id"]).project == project


def test_conversations_are_filed_and_listed_by_project_id(user, user_api):
    chat_project = WorkspaceFactory(owner=user)
    inside = user_api.post(
        "/conversations", {"title": "In", "project_id": chat_project.public_id}
    ).json()
    assert (inside["project_id"], inside["workspace_id"]) == (
        chat_project.public_id,
        chat_project.public_id,
    )
    outside = user_api.post("/conversations", {"title": "Out"}).json()

    def ids(params: dict) -> list[str]:
        return [c["id"] for c in user_api.get("/conversations", params).json()["data"]]

    assert ids({"project_id": chat_project.public_id}) == [inside["id"]]
    assert ids({"project_id": "none"}) == [outside["id"]]
    both = {"project_id": chat_project.public_id, "workspace_id": "ws_other"}
    response = user_api.get("/conversations", both)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "project_id"


def test_a_conversation_in_an_unknown_project_is_not_created(user_api):
    response = user_api.post("/conversations", {"project_id": "ws_unknown"})
    assert response.status_code == 404
    assert response.json() == error(
        "No project with id 'ws_unknown'.", "project_id", "not_found"
    )
    assert not Conversation.objects.exists()


def test_deleting_a_project_deletes_its_conversations(user, user_api):
    chat_project = WorkspaceFactory(owner=user)
    conversation = ConversationFactory(
        owner=user, project=chat_project.project, workspace=chat_project
    )
    user_api.delete(f"/projects/{chat_project.public_id}")
    assert user_api.get(f"/conversations/{conversation.public_id}").status_code == 404


def test_update_sets_the_title_and_metadata_of_a_conversation(key_api):
    """OpenAI's POST update takes Jan's `title` as well as `metadata`."""
    created = key_api.post("/conversations", {"metadata": {"a": "1"}}).json()
    path = f"/conversations/{created['id']}"
    titled = key_api.post(path, {"title": "Named"}).json()
    assert titled == {**created, "title": "Named"}
    both = key_api.post(path, {"title": "Both", "metadata": {"b": "2"}}).json()
    assert both == {**created, "title": "Both", "metadata": {"b": "2"}}
    empty = key_api.post(path, {})
    assert empty.status_code == 400
    assert empty.json() == error("Give `metadata`, `title` or both.", "metadata")
    assert key_api.get(path).json() == both
