"""Database constraints on the tenancy tables: invariants hold even when code forgets them."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from orgs.models import ApiKey, Organization, OrganizationMember, Project, ProjectMember
from orgs.tests.factories import (
    InviteFactory,
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

pytestmark = pytest.mark.django_db


def raises_integrity():
    """Expect an IntegrityError inside a savepoint, so the test transaction survives."""
    return pytest.raises(IntegrityError)


def test_duplicate_organization_membership_is_rejected(user, organization):
    OrganizationMember.objects.create(organization=organization, user=user)
    with raises_integrity(), transaction.atomic():
        OrganizationMember.objects.create(
            organization=organization, user=user, role="owner"
        )


def test_duplicate_project_membership_is_rejected(user, project):
    ProjectMember.objects.create(project=project, user=user)
    with raises_integrity(), transaction.atomic():
        ProjectMember.objects.create(project=project, user=user, role="owner")


@pytest.mark.parametrize(
    "make",
    [
        lambda: OrganizationMemberFactory(role="admin"),
        lambda: ProjectMemberFactory(role="reader"),
        lambda: ProjectFactory(status="deleted"),
        lambda: InviteFactory(role="admin"),
        lambda: InviteFactory(status="revoked"),
    ],
    ids=["org-role", "project-role", "project-status", "invite-role", "invite-status"],
)
def test_invalid_choices_are_rejected_by_the_database(make):
    with raises_integrity(), transaction.atomic():
        make()


def test_there_is_only_one_default_organization(default_org):
    with raises_integrity(), transaction.atomic():
        Organization.objects.create(name="Another default", is_default=True)


def test_default_organization_exists_after_migrations(db):
    """The data migration created it, with a random public id."""
    organization = Organization.objects.get(is_default=True)
    assert organization.public_id.startswith("org_")


def test_archived_project_needs_an_archive_time(organization):
    with raises_integrity(), transaction.atomic():
        Project.objects.create(organization=organization, name="p", status="archived")
    with raises_integrity(), transaction.atomic():
        Project.objects.create(
            organization=organization, name="p", archived_at=timezone.now()
        )


def test_accepted_invite_needs_an_acceptance_time():
    with raises_integrity(), transaction.atomic():
        InviteFactory(status="accepted")


def test_invite_must_expire_after_it_was_sent():
    with raises_integrity(), transaction.atomic():
        InviteFactory(expires_at=timezone.now() - timedelta(days=1))


def test_invite_secret_hashes_are_unique():
    InviteFactory(secret_hash="f" * 64)
    with raises_integrity(), transaction.atomic():
        InviteFactory(secret_hash="f" * 64)


def make_key(**fields):
    return ApiKey.objects.create(**{"key_hash": "0" * 64, "hint": "sk-…0000", **fields})


def test_duplicate_key_hash_is_rejected(project, user):
    make_key(
        kind="project", organization=project.organization, project=project, owner=user
    )
    with raises_integrity(), transaction.atomic():
        make_key(
            kind="project",
            organization=project.organization,
            project=project,
            owner=user,
        )


def test_project_key_needs_a_project_and_admin_key_has_none(project, user):
    org = project.organization
    with raises_integrity(), transaction.atomic():
        make_key(kind="project", organization=org, owner=user)
    with raises_integrity(), transaction.atomic():
        make_key(
            kind="admin",
            organization=org,
            project=project,
            owner=user,
            key_hash="1" * 64,
        )
    with raises_integrity(), transaction.atomic():
        make_key(kind="root", organization=org, owner=user, key_hash="2" * 64)


def test_key_clean_rejects_a_project_of_another_organization(project, user):
    other = OrganizationFactory()
    key = ApiKey(
        kind="project",
        organization=other,
        project=project,
        owner=user,
        key_hash="3" * 64,
        hint="x",
    )
    with pytest.raises(ValidationError) as raised:
        key.full_clean()
    assert "project" in raised.value.message_dict


def test_public_ids_are_prefixed_random_and_unique(db):
    ids = {OrganizationFactory().public_id for _ in range(20)}
    assert len(ids) == 20
    assert all(i.startswith("org_") and len(i) == 28 for i in ids)
