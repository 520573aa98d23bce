"""Another caller's ids answer 404 exactly like unknown ones, on every route."""

import pytest

from conversations.models import Item, Workspace
from conversations.tests.conftest import key_api_for, user_api_for
from conversations.tests.factories import (
    ConversationFactory,
    ItemFactory,
    WorkspaceFactory,
)
from orgs.selectors import OrganizationAccess, organization_member_get
from orgs.services import organization_member_remove
from orgs.tests.factories import (
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

pytestmark = pytest.mark.django_db

UNKNOWN = {"c": "conv_" + "0" * 42, "i": "msg_" + "0" * 42, "w": "ws_" + "0" * 24}

# (method, path, body); {c} a conversation, {i} an item of it, {w} a workspace.
ROUTES = [
    ("get", "/conversations/{c}", None),
    ("post", "/conversations/{c}", {"metadata": {}}),
    ("patch", "/conversations/{c}", {"title": "t"}),
    ("delete", "/conversations/{c}", None),
    ("patch", "/conversations/{c}/workspace", {"workspace_id": None}),
    ("get", "/conversations/{c}/items", None),
    ("post", "/conversations/{c}/items", {"items": [{"role": "user", "content": "x"}]}),
    ("get", "/conversations/{c}/items/{i}", None),
    ("delete", "/conversations/{c}/items/{i}", None),
    ("get", "/conv/workspaces/{w}", None),
    ("patch", "/conv/workspaces/{w}", {"name": "n"}),
    ("patch", "/conv/workspaces/{w}/instruction", {"instruction": "i"}),
    ("delete", "/conv/workspaces/{w}", None),
    ("post", "/conversations", {"workspace_id": "{w}"}),
]


def _call(api, method, path, body, ids):
    path = path.format(**ids)
    if body is not None:
        body = {
            k: v.format(**ids) if isinstance(v, str) else v for k, v in body.items()
        }
        return getattr(api, method)(path, body)
    return getattr(api, method)(path)


@pytest.fixture(params=["other-project-key", "same-project-other-user", "user"])
def intruder(request, project, user, default_org):
    """Callers who must not see `user`'s conversations made in `project` by the user."""
    if request.param == "other-project-key":
        return key_api_for(ProjectFactory())
    if request.param == "same-project-other-user":
        stranger = ProjectMemberFactory(project=project).user
        return user_api_for(stranger)
    return key_api_for(ProjectFactory(organization=project.organization), user)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_foreign_ids_are_not_found_like_unknown_ids(
    intruder, project, user, method, path, body
):
    workspace = WorkspaceFactory(project=project, owner=user)
    conversation = ConversationFactory(project=project, owner=user, workspace=workspace)
    item = ItemFactory(conversation=conversation)
    before = conversation.title
    mine = {"c": conversation.public_id, "i": item.public_id, "w": workspace.public_id}
    foreign = _call(intruder, method, path, body, mine)
    unknown = _call(intruder, method, path, body, UNKNOWN)
    assert foreign.status_code == unknown.status_code == 404
    expected = unknown.content.decode()
    for key, value in UNKNOWN.items():
        expected = expected.replace(value, mine[key])
    assert foreign.content.decode() == expected
    conversation.refresh_from_db()
    assert conversation.deleted_at is None
    assert (conversation.title, conversation.workspace) == (before, workspace)
    assert Item.objects.filter(pk=item.pk).exists()
    assert Item.objects.count() == 1
    assert Workspace.objects.get(pk=workspace.pk).name == workspace.name


@pytest.mark.parametrize(("method", "path", "body"), ROUTES[:-1])
def test_a_member_who_left_the_organization_sees_nothing_of_it(method, path, body):
    """Removal from an organization ends access to one's conversations there too."""
    project = ProjectFactory()
    membership = OrganizationMemberFactory(organization=project.organization)
    user = membership.user
    conversation = ConversationFactory(owner=user, project=project)
    item = ItemFactory(conversation=conversation, position=1)
    workspace = WorkspaceFactory(owner=user, project=project)
    ids = {"c": conversation.public_id, "i": item.public_id, "w": workspace.public_id}
    api = user_api_for(user)
    assert api.get(f"/conversations/{conversation.public_id}").status_code == 200
    access = OrganizationAccess(project.organization, user, "owner")
    organization_member_remove(
        member=organization_member_get(access=access, user_public_id=user.public_id)
    )
    response = _call(api, method, path, body, ids)
    assert response.status_code == 404
    assert api.get("/conversations").json()["data"] == []
    assert api.get("/conv/workspaces").json()["data"] == []
