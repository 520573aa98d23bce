"""Organization admin API: projects, their pagination and archiving."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orgs.models import Project, ProjectMember
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory
from orgs.tests.test_api_base import (
    Api,
    admin_key_api,
    error,
    member,
    not_found,
    user_api,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


def project_body(project: Project) -> dict:
    project.refresh_from_db()
    return {
        "object": "organization.project",
        "id": project.public_id,
        "name": project.name,
        "created_at": int(project.created_at.timestamp()),
        "archived_at": int(project.archived_at.timestamp())
        if project.archived_at
        else None,
        "status": project.status,
    }


def _projects(organization, count):
    """Projects with distinct, increasing creation times (oldest first)."""
    start = timezone.now() - timedelta(hours=1)
    return [
        ProjectFactory(
            organization=organization, created_at=start + timedelta(seconds=i)
        )
        for i in range(count)
    ]


def test_create_a_project_makes_the_caller_its_owner(api, owner, organization):
    response = api.post("/projects", {"name": "  Research  "})
    assert response.status_code == 200
    project = Project.objects.get(public_id=response.json()["id"])
    assert response.json() == project_body(project)
    assert (project.name, project.organization) == ("Research", organization)
    assert ProjectMember.objects.get(project=project).user == owner
    assert ProjectMember.objects.get(project=project).role == "owner"


def test_an_admin_key_creates_a_project_owned_by_the_key_owner(organization, owner):
    response = admin_key_api(organization, owner).post("/projects", {"name": "Keyed"})
    project = Project.objects.get(public_id=response.json()["id"])
    assert list(project.members.all()) == [owner]


def test_get_update_and_archive_a_project(api, organization):
    project = ProjectFactory(organization=organization, name="Old")
    path = f"/projects/{project.public_id}"
    assert api.get(path).json() == project_body(project)
    renamed = api.post(path, {"name": "New"})
    assert renamed.json() == {**project_body(project), "name": "New"}
    archived = api.post(path + "/archive")
    assert archived.json()["status"] == "archived"
    assert archived.json() == project_body(project)
    again = api.post(path + "/archive")
    assert again.json() == archived.json()  # idempotent: the first time is kept


def test_an_archived_projects_keys_stop_working_at_once(api, organization, owner):
    """Archiving drops the keys' cached principals: the next call is 401."""
    project = ProjectFactory(organization=organization)
    _, secret = api_key_create(
        kind="project", organization=organization, project=project, owner=owner
    )
    probe = Api(secret)
    assert probe.get("/projects").status_code == 403  # known (cached), but no admin
    api.post(f"/projects/{project.public_id}/archive")
    assert probe.get("/projects").status_code == 401


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["Active"]),
        ({"include_archived": "false"}, ["Active"]),
        ({"include_archived": "true"}, ["Active", "Archived"]),
    ],
)
def test_list_hides_archived_projects_unless_asked(params, names, api, organization):
    start = timezone.now() - timedelta(minutes=5)
    ProjectFactory(organization=organization, name="Active", created_at=start)
    ProjectFactory(
        organization=organization,
        name="Archived",
        status="archived",
        archived_at=start,
        created_at=start + timedelta(seconds=1),
    )
    response = api.get("/projects", params)
    assert [p["name"] for p in response.json()["data"]] == names


def test_list_is_the_openai_envelope(api, organization):
    projects = _projects(organization, 2)
    assert api.get("/projects").json() == {
        "object": "list",
        "data": [project_body(p) for p in projects],
        "first_id": projects[0].public_id,
        "last_id": projects[1].public_id,
        "has_more": False,
    }


def test_an_empty_list(api):
    assert api.get("/projects").json() == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


@pytest.mark.parametrize("cursor", ["after", "last"])
def test_pages_follow_the_cursor(cursor, api, organization):
    """`after` (OpenAI) and `last` (Jan) continue after the given id; has_more says when."""
    ids = [p.public_id for p in _projects(organization, 5)]
    first = api.get("/projects", {"limit": 2}).json()
    assert ([p["id"] for p in first["data"]], first["has_more"]) == (ids[:2], True)
    assert (first["first_id"], first["last_id"]) == (ids[0], ids[1])
    second = api.get("/projects", {"limit": 2, cursor: first["last_id"]}).json()
    assert ([p["id"] for p in second["data"]], second["has_more"]) == (ids[2:4], True)
    third = api.get("/projects", {"limit": 2, cursor: second["last_id"]}).json()
    assert ([p["id"] for p in third["data"]], third["has_more"]) == (ids[4:], False)


def test_pages_in_descending_order(api, organization):
    ids = [p.public_id for p in _projects(organization, 3)][::-1]
    first = api.get("/projects", {"limit": 2, "order": "desc"}).json()
    assert [p["id"] for p in first["data"]] == ids[:2]
    rest = api.get("/projects", {"order": "desc", "after": ids[1]}).json()
    assert [p["id"] for p in rest["data"]] == ids[2:]


def test_projects_created_at_the_same_instant_page_by_insertion(api, organization):
    """Ties on created_at are broken by the primary key: nothing is skipped or repeated."""
    now = timezone.now()
    ids = [
        ProjectFactory(organization=organization, created_at=now).public_id
        for _ in range(4)
    ]
    seen, after = [], None
    while True:
        page = api.get("/projects", {"limit": 1, **({"after": after} if after else {})})
        seen += [p["id"] for p in page.json()["data"]]
        after = page.json()["last_id"]
        if not page.json()["has_more"]:
            break
    assert seen == ids


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"limit": 0}, "limit", "Ensure this value is greater than or equal to 1."),
        ({"limit": 101}, "limit", "Ensure this value is less than or equal to 100."),
        ({"limit": "ten"}, "limit", "A valid integer is required."),
        ({"order": "up"}, "order", '"up" is not a valid choice.'),
        ({"include_archived": "maybe"}, "include_archived", "Must be a valid boolean."),
    ],
)
def test_bad_list_parameters_are_400(params, param, message, api):
    response = api.get("/projects", params)
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error", "invalid_value", message, param
    )


@pytest.mark.parametrize("foreign", [True, False])
def test_a_cursor_outside_the_list_is_400(foreign, api, organization):
    """A cursor from another organization is refused exactly like an unknown one."""
    ProjectFactory(organization=organization)
    cursor = ProjectFactory().public_id if foreign else "proj_nothing"
    response = api.get("/projects", {"after": cursor})
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error",
        "invalid_value",
        f"The cursor {cursor!r} is not an object of this list.",
        "after",
    )


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("post", "", {"name": "Stolen"}),
        ("post", "/archive", None),
    ],
)
@pytest.mark.parametrize("foreign", [True, False])
def test_another_organizations_project_is_not_found(method, suffix, body, foreign, api):
    """A foreign project id answers exactly like an unknown one, and is left alone."""
    other = ProjectFactory(name="Theirs")
    public_id = other.public_id if foreign else "proj_unknown"
    path = f"/projects/{public_id}{suffix}"
    response = api.get(path) if method == "get" else api.post(path, body)
    assert response.status_code == 404
    assert response.json() == not_found("project", public_id, "project_id")
    other.refresh_from_db()
    assert (other.name, other.status) == ("Theirs", "active")


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({}, 400, "name", "missing_required_parameter"),
        ({"name": ""}, 400, "name", "invalid_value"),
        ({"name": "   "}, 400, "name", "invalid_value"),
        ({"name": None}, 400, "name", "invalid_value"),
        ({"name": 12}, 200, None, None),
        ({"name": ["x"]}, 400, "name", "invalid_value"),
        ({"name": "x" * 201}, 400, "name", "invalid_value"),
        ({"name": "x" * 10_000}, 400, "name", "invalid_value"),
        ({"name": "nul\x00byte"}, 400, "name", "invalid_value"),
    ],
)
def test_project_names_are_validated(body, status, param, code, api):
    response = api.post("/projects", body)
    assert response.status_code == status
    if status != 200:
        assert response.json()["error"]["param"] == param
        assert response.json()["error"]["code"] == code


def test_sql_looking_names_are_just_text(api):
    name = "Robert'); DROP TABLE orgs_project;--"
    response = api.post("/projects", {"name": name})
    assert response.json()["name"] == name
    assert Project.objects.filter(name=name).count() == 1


def test_an_update_is_validated_like_a_create(api, organization):
    project = ProjectFactory(organization=organization, name="Kept")
    response = api.post(f"/projects/{project.public_id}", {"name": "y" * 10_000})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"
    project.refresh_from_db()
    assert project.name == "Kept"


@pytest.mark.parametrize("rows", [1, 5])
def test_listing_projects_takes_a_fixed_number_of_queries(
    rows, api, organization, django_assert_num_queries
):
    """No N+1: membership + page, whatever the page size; + the cursor with `after`."""
    projects = _projects(organization, rows + 1)
    api.get("/projects")  # warm the credential cache
    with django_assert_num_queries(2):
        assert len(api.get("/projects").json()["data"]) == rows + 1
    with django_assert_num_queries(3):
        page = api.get("/projects", {"after": projects[0].public_id}).json()
        assert len(page["data"]) == rows
