"""Registration and the bootstrap of organization admins."""

import pytest

from accounts.models import User
from accounts.services import admins_bootstrap, user_get_or_register, user_register
from janserver.errors import InvalidRequest
from orgs.models import OrganizationMember, Project, ProjectMember

pytestmark = pytest.mark.django_db


def test_user_register_creates_a_default_project_owned_by_the_user(default_org):
    user = user_register(email="New@Example.com", name="New")
    assert user.email == "new@example.com"
    project = Project.objects.get(memberships__user=user)
    assert project.name == "Default Project"
    assert project.organization == default_org
    assert ProjectMember.objects.get(project=project, user=user).role == "owner"
    assert (
        OrganizationMember.objects.get(organization=default_org, user=user).role
        == "member"
    )


@pytest.mark.parametrize("email", ["", "not-an-email", "a@", "@example.com"])
def test_user_register_rejects_invalid_emails(default_org, email):
    with pytest.raises(InvalidRequest) as raised:
        user_register(email=email)
    assert raised.value.param == "email"
    assert not User.objects.exists()


def test_user_register_rejects_a_duplicate_email_in_any_case(user):
    with pytest.raises(InvalidRequest):
        user_register(email=user.email.upper())


def test_user_get_or_register_returns_the_existing_user(user):
    assert user_get_or_register(email=user.email.upper()) == (user, False)


def test_admins_bootstrap_is_idempotent(default_org):
    """Running it twice leaves one owner membership per email and no duplicate users."""
    for _ in range(2):
        organization, users = admins_bootstrap(
            emails=["boss@example.com", "ops@example.com"]
        )
    assert organization == default_org
    assert [u.email for u in users] == ["boss@example.com", "ops@example.com"]
    assert User.objects.count() == 2
    roles = OrganizationMember.objects.filter(organization=default_org).values_list(
        "user__email", "role"
    )
    assert sorted(roles) == [
        ("boss@example.com", "owner"),
        ("ops@example.com", "owner"),
    ]


def test_admins_bootstrap_promotes_an_existing_reader(default_org):
    user = user_register(email="reader@example.com")
    admins_bootstrap(emails=["reader@example.com"])
    assert (
        OrganizationMember.objects.get(organization=default_org, user=user).role
        == "owner"
    )
