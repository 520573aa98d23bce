"""Organization admin API: invites, their email, and accepting them by code."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.tests.factories import UserFactory
from orgs.models import Invite
from orgs.services import invite_create
from orgs.tests.factories import OrganizationMemberFactory, ProjectFactory
from orgs.tests.test_api_base import error, member, not_found, user_api

pytestmark = pytest.mark.django_db

REDIRECT = "https://jan.example.com/invite"


@pytest.fixture(autouse=True)
def _redirect_url(settings):
    settings.INVITE_REDIRECT_URL = REDIRECT


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


def expire(invite: Invite) -> None:
    """Move an invite's whole life into the past."""
    now = timezone.now()
    Invite.objects.filter(pk=invite.pk).update(
        invited_at=now - timedelta(days=8), expires_at=now - timedelta(days=1)
    )


def ts(value):
    return None if value is None else int(value.timestamp())


def invite_body(invite: Invite, status: str | None = None) -> dict:
    invite.refresh_from_db()
    return {
        "object": "organization.invite",
        "id": invite.public_id,
        "email": invite.email,
        "role": invite.role,
        "status": status or invite.status,
        "invited_at": ts(invite.invited_at),
        "created_at": ts(invite.invited_at),
        "expires_at": ts(invite.expires_at),
        "accepted_at": ts(invite.accepted_at),
        "projects": [
            {"id": link.project.public_id, "role": link.role}
            for link in invite.projects.all()
        ],
    }


def sent_code() -> str:
    (message,) = mail.outbox
    return re.search(re.escape(REDIRECT) + r"\?code=([0-9a-z]+)", message.body)[1]


def test_create_an_invite_emails_the_link(api, organization, project, owner):
    response = api.post(
        "/invites",
        {
            "email": " New.Person@Example.com ",
            "role": "reader",
            "projects": [{"id": project.public_id, "role": "owner"}],
        },
    )
    assert response.status_code == 200
    invite = Invite.objects.get()
    assert response.json() == invite_body(invite)
    assert response.json()["projects"] == [{"id": project.public_id, "role": "owner"}]
    assert (invite.email, invite.invited_by, invite.status) == (
        "new.person@example.com",
        owner,
        "pending",
    )
    (message,) = mail.outbox
    assert message.to == ["new.person@example.com"]
    assert organization.name in message.subject
    code = sent_code()
    assert len(code) == 48
    assert code not in response.content.decode()


def test_the_link_keeps_a_query_string_of_the_redirect_url(api, settings):
    settings.INVITE_REDIRECT_URL = REDIRECT + "?from=mail"
    api.post("/invites", {"email": "a@example.com", "role": "owner"})
    assert f"{REDIRECT}?from=mail&code=" in mail.outbox[0].body


def test_list_get_and_delete_invites(api, organization):
    invite, _ = invite_create(organization=organization, email="x@example.com")
    assert api.get("/invites").json() == {
        "object": "list",
        "data": [invite_body(invite)],
        "first_id": invite.public_id,
        "last_id": invite.public_id,
        "has_more": False,
    }
    assert api.get(f"/invites/{invite.public_id}").json() == invite_body(invite)
    assert api.delete(f"/invites/{invite.public_id}").json() == {
        "object": "organization.invite.deleted",
        "id": invite.public_id,
        "deleted": True,
    }
    assert not Invite.objects.exists()


def test_an_accepted_invite_cannot_be_deleted(api, organization):
    invite, code = invite_create(organization=organization, email="x@example.com")
    user_api(UserFactory(email="x@example.com")).post(
        "/invites/verification", {"code": code}
    )
    response = api.delete(f"/invites/{invite.public_id}")
    assert response.status_code == 409
    assert response.json() == error(
        "invalid_request_error",
        "conflict",
        "An accepted invite cannot be deleted.",
        "invite_id",
    )


def test_an_expired_invite_shows_expired_and_may_be_deleted(api, organization):
    invite, _ = invite_create(organization=organization, email="x@example.com")
    expire(invite)
    assert api.get(f"/invites/{invite.public_id}").json()["status"] == "expired"
    assert api.delete(f"/invites/{invite.public_id}").status_code == 200


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize("foreign", [True, False])
def test_another_organizations_invite_is_not_found(method, foreign, api):
    other, _ = invite_create(
        organization=OrganizationMemberFactory().organization, email="o@example.com"
    )
    public_id = other.public_id if foreign else "invite_unknown"
    response = getattr(api, method)(f"/invites/{public_id}")
    assert response.status_code == 404
    assert response.json() == not_found("invite", public_id, "invite_id")
    assert Invite.objects.filter(pk=other.pk).exists()


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({"role": "reader"}, 400, "email", "This field is required."),
        (
            {"email": "not-an-email", "role": "reader"},
            400,
            "email",
            "Enter a valid email address.",
        ),
        (
            {"email": "a" * 10_000 + "@x.com", "role": "reader"},
            400,
            "email",
            "Ensure this field has no more than 254 characters.",
        ),
        ({"email": "a@example.com"}, 400, "role", "This field is required."),
        (
            {"email": "a@example.com", "role": "admin"},
            400,
            "role",
            '"admin" is not a valid choice.',
        ),
        (
            {"email": "a@example.com", "role": "reader", "projects": "proj_x"},
            400,
            "projects",
            'Expected a list of items but got type "str".',
        ),
    ],
)
def test_invite_input_is_validated(body, status, param, message, api):
    response = api.post("/invites", body)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["message"] == message
    assert not Invite.objects.exists()
    assert mail.outbox == []


def test_invite_projects_need_a_role(api):
    response = api.post(
        "/invites",
        {"email": "a@example.com", "role": "reader", "projects": [{"id": "proj_x"}]},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "This field is required."
    assert response.json()["error"]["param"] == "projects[0].role"


def test_an_invite_names_each_project_once(api, project):
    link = {"id": project.public_id, "role": "member"}
    response = api.post(
        "/invites",
        {"email": "a@example.com", "role": "reader", "projects": [link, link]},
    )
    assert response.json() == error(
        "invalid_request_error",
        "invalid_value",
        "A project may be listed only once.",
        "projects",
    )


@pytest.mark.parametrize("foreign", [True, False])
def test_an_invite_to_another_organizations_project_is_not_found(foreign, api, project):
    public_id = ProjectFactory().public_id if foreign else "proj_unknown"
    response = api.post(
        "/invites",
        {
            "email": "a@example.com",
            "role": "reader",
            "projects": [
                {"id": project.public_id, "role": "member"},
                {"id": public_id, "role": "member"},
            ],
        },
    )
    assert response.status_code == 404
    assert response.json() == not_found("project", public_id, "projects[1].id")
    assert not Invite.objects.exists()


def test_an_invite_to_an_archived_project_is_refused(api, project):
    api.post(f"/projects/{project.public_id}/archive")
    response = api.post(
        "/invites",
        {
            "email": "a@example.com",
            "role": "reader",
            "projects": [{"id": project.public_id, "role": "member"}],
        },
    )
    assert response.json() == error(
        "invalid_request_error",
        "invalid_value",
        f"Project {project.public_id} is archived.",
        "projects[0].id",
    )


def test_one_pending_invite_per_email(api, organization):
    api.post("/invites", {"email": "twice@example.com", "role": "reader"})
    response = api.post("/invites", {"email": "TWICE@example.com", "role": "owner"})
    assert response.status_code == 409
    assert response.json() == error(
        "invalid_request_error",
        "conflict",
        "twice@example.com already has a pending invite.",
        "email",
    )
    assert len(mail.outbox) == 1


def test_an_expired_invite_may_be_sent_again(api, organization):
    invite, _ = invite_create(organization=organization, email="again@example.com")
    expire(invite)
    response = api.post("/invites", {"email": "again@example.com", "role": "reader"})
    assert response.status_code == 200


def test_members_are_not_invited(api, owner):
    response = api.post("/invites", {"email": owner.email.upper(), "role": "reader"})
    assert response.status_code == 409
    assert response.json() == error(
        "invalid_request_error",
        "conflict",
        f"{owner.email} is already a member of the organization (role owner).",
        "email",
    )


@pytest.mark.parametrize("rows", [1, 5])
def test_listing_invites_takes_a_fixed_number_of_queries(
    rows, api, organization, project, django_assert_num_queries
):
    for index in range(rows):
        invite, _ = invite_create(
            organization=organization,
            email=f"i{index}@example.com",
            projects=[(project, "member")],
        )
        Invite.objects.filter(pk=invite.pk).update(
            invited_at=timezone.now() - timedelta(minutes=rows - index)
        )
    api.get("/invites")
    with django_assert_num_queries(3):  # membership, page, projects
        data = api.get("/invites").json()["data"]
    assert [i["email"] for i in data] == [f"i{i}@example.com" for i in range(rows)]
    assert {str(i["projects"]) for i in data} == {
        str([{"id": project.public_id, "role": "member"}])
    }
