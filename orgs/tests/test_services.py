"""Key service and tenancy writes."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from janserver.errors import Forbidden, InvalidRequest, Unauthenticated
from orgs.models import ApiKey, ProjectStatus
from orgs.services import (
    api_key_create,
    api_key_hash,
    api_key_revoke,
    api_key_verify,
    project_archive,
)
from orgs.tests.factories import OrganizationMemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "prefix"), [("admin", "sk-admin_"), ("project", "sk-project_")]
)
def test_api_key_create_returns_a_secret_of_the_documented_format(
    kind, prefix, project, org_owner
):
    """A key is the kind's prefix plus at least 32 characters of [0-9a-z]."""
    api_key, secret = api_key_create(
        kind=kind,
        organization=project.organization,
        project=project if kind == "project" else None,
        owner=org_owner,
    )
    assert re.fullmatch(re.escape(prefix) + r"[0-9a-z]{48}", secret)
    assert api_key.public_id.startswith("key_")
    assert api_key.hint == "sk-…" + secret[-4:]


def test_api_key_create_stores_only_the_hmac(project_key):
    """The secret is never stored; the hash is HMAC-SHA256 under APIKEY_SECRET."""
    api_key, secret = project_key
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert stored["key_hash"] == api_key_hash(secret)
    assert re.fullmatch(r"[0-9a-f]{64}", stored["key_hash"])
    assert not any(secret in str(value) for value in stored.values())


def test_api_key_secrets_do_not_repeat(project, org_owner):
    """Secrets come from a CSPRNG: 50 keys, 50 distinct secrets with varied characters."""
    secrets = {
        api_key_create(
            kind="project",
            organization=project.organization,
            project=project,
            owner=org_owner,
        )[1]
        for _ in range(50)
    }
    assert len(secrets) == 50
    body = "".join(s.removeprefix("sk-project_") for s in secrets)
    assert len(set(body)) == 36


def test_api_key_verify_accepts_a_valid_key(project_key):
    api_key, secret = project_key
    assert api_key_verify(secret=secret) == api_key


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "sk-project_",
        "sk-project_" + "0" * 48,
        "Bearer x",
        "sk-admin_" + "a" * 500,
        "sk-proj-abc",
    ],
)
def test_api_key_verify_rejects_unknown_or_malformed_secrets(db, secret):
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)


def test_api_key_verify_rejects_a_wrong_secret_of_a_real_key(project_key):
    _, secret = project_key
    wrong = secret[:-1] + ("a" if secret[-1] != "a" else "b")
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=wrong)


def test_api_key_verify_rejects_revoked_keys(project_key):
    api_key, secret = project_key
    api_key_revoke(api_key=api_key)
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)


def test_api_key_verify_rejects_expired_keys(project_key):
    api_key, secret = project_key
    ApiKey.objects.filter(pk=api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)


def test_api_key_verify_rejects_disabled_keys_and_inactive_owners(project_key, user):
    api_key, secret = project_key
    ApiKey.objects.filter(pk=api_key.pk).update(enabled=False)
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)
    ApiKey.objects.filter(pk=api_key.pk).update(enabled=True)
    user.is_active = False
    user.save()
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)


def test_api_key_verify_rejects_keys_of_archived_projects(project_key, project):
    _, secret = project_key
    project_archive(project=project)
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)


def test_api_key_revoke_is_idempotent(project_key):
    api_key, _ = project_key
    first = api_key_revoke(api_key=api_key).revoked_at
    assert api_key_revoke(api_key=api_key).revoked_at == first


def test_api_key_create_rejects_a_past_expiry(project, user):
    with pytest.raises(InvalidRequest) as raised:
        api_key_create(
            kind="project",
            organization=project.organization,
            project=project,
            owner=user,
            expires_at=timezone.now() - timedelta(days=1),
        )
    assert raised.value.param == "expires_at"


def test_project_archive_sets_status_and_time(project):
    project_archive(project=project)
    project.refresh_from_db()
    assert project.status == ProjectStatus.ARCHIVED
    assert project.archived_at is not None


def test_admin_keys_belong_to_organization_owners(organization, user):
    """A reader (or a stranger) cannot own an admin key."""
    OrganizationMemberFactory(organization=organization, user=user, role="reader")
    with pytest.raises(Forbidden) as raised:
        api_key_create(kind="admin", organization=organization, owner=user)
    assert raised.value.param == "owner"


def test_project_keys_belong_to_project_members_or_organization_owners(
    project, user, org_owner
):
    with pytest.raises(Forbidden):
        api_key_create(
            kind="project",
            organization=project.organization,
            project=project,
            owner=user,
        )
    api_key, _ = api_key_create(
        kind="project",
        organization=project.organization,
        project=project,
        owner=org_owner,
    )
    assert api_key.project == project
