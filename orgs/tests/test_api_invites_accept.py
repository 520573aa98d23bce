"""Organization admin API: accepting an invite by its code (POST /invites/verification)."""

import pytest

from accounts.tests.factories import UserFactory
from orgs.models import Invite, OrganizationMember, ProjectMember
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory
from orgs.tests.test_api_base import Api, error, member, user_api
from orgs.tests.test_api_invites import REDIRECT, expire, invite_body, sent_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


@pytest.fixture(autouse=True)
def _redirect_url(settings):
    settings.INVITE_REDIRECT_URL = REDIRECT


def _invite(api, project, email="joiner@example.com", role="reader"):
    api.post(
        "/invites",
        {
            "email": email,
            "role": role,
            "projects": [{"id": project.public_id, "role": "owner"}],
        },
    )
    return Invite.objects.get(email=email), sent_code()


def test_accept_an_invite_joins_the_organization_and_projects(
    api, organization, project
):
    invite, code = _invite(api, project)
    joiner = UserFactory(email="Joiner@example.com".lower())
    response = user_api(joiner).post("/invites/verification", {"code": code})
    assert response.status_code == 200
    assert response.json() == invite_body(invite)
    assert response.json()["status"] == "accepted"
    assert response.json()["accepted_at"] is not None
    assert (
        OrganizationMember.objects.get(user=joiner, organization=organization).role
        == "reader"
    )
    assert ProjectMember.objects.get(user=joiner, project=project).role == "owner"
    # The new member now acts in the organization through the header.
    listed = user_api(joiner, organization).get("/users").json()["data"]
    assert joiner.public_id in [u["id"] for u in listed]


def test_an_invite_is_accepted_once(api, project):
    _, code = _invite(api, project)
    joiner = user_api(UserFactory(email="joiner@example.com"))
    assert joiner.post("/invites/verification", {"code": code}).status_code == 200
    response = joiner.post("/invites/verification", {"code": code})
    assert response.status_code == 409
    assert response.json() == error(
        "invalid_request_error",
        "invite_already_accepted",
        "This invite was accepted already.",
        "code",
    )


def test_an_expired_invite_is_refused(api, project):
    invite, code = _invite(api, project)
    expire(invite)
    response = user_api(UserFactory(email="joiner@example.com")).post(
        "/invites/verification", {"code": code}
    )
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error",
        "invite_expired",
        "This invite has expired; ask for a new one.",
        "code",
    )
    assert not ProjectMember.objects.filter(user__email="joiner@example.com").exists()


@pytest.mark.parametrize("mangle", [str.upper, lambda c: c[:-1], lambda c: "x" * 48])
def test_an_unknown_code_is_not_found(mangle, api, project):
    _, code = _invite(api, project)
    response = user_api(UserFactory(email="joiner@example.com")).post(
        "/invites/verification", {"code": mangle(code)}
    )
    assert response.status_code == 404
    assert response.json() == error(
        "invalid_request_error", "not_found", "No invite with this code.", "code"
    )


def test_an_invite_is_for_its_addressee_only(api, project):
    """Another signed-in user holding the code may not use it (403), and learns nothing."""
    invite, code = _invite(api, project)
    response = user_api(UserFactory(email="someone.else@example.com")).post(
        "/invites/verification", {"code": code}
    )
    assert response.status_code == 403
    assert response.json() == error(
        "permission_error",
        "insufficient_permissions",
        "This invite was sent to another email address.",
    )
    assert Invite.objects.get(pk=invite.pk).status == "pending"


def test_accepting_never_lowers_an_existing_role(api, organization, project):
    _, code = _invite(api, project, role="reader")
    joiner = UserFactory(email="joiner@example.com")
    ProjectMember.objects.create(project=project, user=joiner, role="owner")
    user_api(joiner).post("/invites/verification", {"code": code})
    assert ProjectMember.objects.get(project=project, user=joiner).role == "owner"


def test_api_keys_cannot_accept_invites(api, organization, owner, project):
    _, code = _invite(api, project)
    _, secret = api_key_create(kind="admin", organization=organization, owner=owner)
    response = Api(secret).post("/invites/verification", {"code": code})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Only a signed-in user can accept an invite, not an API key."
    )


@pytest.mark.parametrize(
    "body", [{}, {"code": ""}, {"code": "c" * 10_000}, {"code": 5.5}]
)
def test_the_verification_code_is_validated(body, api):
    response = api.post("/invites/verification", body)
    assert response.status_code in (400, 404)
    assert response.json()["error"]["param"] == "code"
