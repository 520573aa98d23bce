"""Shared pytest fixtures."""

import pytest

from accounts.tests.factories import SuperUserFactory, UserFactory
from orgs.models import Organization
from orgs.services import api_key_create, organization_default_ensure
from orgs.tests.factories import (
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)


@pytest.fixture
def default_org(db) -> Organization:
    return organization_default_ensure()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def superuser(db):
    return SuperUserFactory()


@pytest.fixture
def admin_client(client, superuser):
    """A Django test client logged in to the admin as a superuser."""
    client.force_login(superuser)
    return client


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


@pytest.fixture
def project_key(project, user):
    """A (key, secret) pair for a project key owned by `user`, a member of `project`."""
    ProjectMemberFactory(project=project, user=user, role="member")
    return api_key_create(
        kind="project", organization=project.organization, project=project, owner=user
    )


@pytest.fixture
def admin_key(organization, user):
    """A (key, secret) pair for an admin key of `organization` owned by `user`, an owner."""
    OrganizationMemberFactory(organization=organization, user=user, role="owner")
    return api_key_create(kind="admin", organization=organization, owner=user)


@pytest.fixture
def org_owner(organization):
    """A user who owns `organization`."""
    return OrganizationMemberFactory(organization=organization, role="owner").user
