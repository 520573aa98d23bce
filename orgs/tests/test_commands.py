"""Operator commands: createorg, createproject, createapikey, revokeapikey, listapikeys, bootstrap."""

import io
import json
import os
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from janserver.errors import Unauthenticated
from orgs.models import ApiKey, Organization, OrganizationMember, ProjectMember
from orgs.services import (
    api_key_create,
    api_key_revoke,
    api_key_verify,
    project_archive,
)
from orgs.tests.factories import (
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def run(line: str) -> str:
    """Run a command line (as typed after `manage.py`) in-process; return its stdout."""
    name, *args = shlex.split(line)
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue()


def run_json(line: str) -> Any:
    """Run a command with --json; stdout must be exactly one JSON document."""
    return json.loads(run(line + " --json"))


def fails(line: str) -> str:
    """Run a command line that must fail; return its one-line error message."""
    with pytest.raises(CommandError) as excinfo:
        run(line)
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


# createorg


def test_createorg_creates_an_organization_owned_by_the_owner(user):
    """An existing user becomes the new organization's only owner."""
    out = run(f"createorg Acme --owner {user.email}")
    organization = Organization.objects.get(name="Acme")
    assert out == (
        f"Created organization 'Acme' ({organization.public_id}) owned by {user.email}.\n"
    )
    members = organization.memberships.values_list("user", "role")
    assert list(members) == [(user.pk, "owner")]


def test_createorg_json_registers_an_unknown_owner():
    """An unknown email is registered; --json reports id, name and owner."""
    body = run_json("createorg '  Acme ' --owner New@Example.com")
    organization = Organization.objects.get(public_id=body["id"])
    assert body == {
        "id": organization.public_id,
        "name": "Acme",
        "owner": "new@example.com",
    }
    assert User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "createorg '  ' --owner a@example.com",
            "The organization name must not be empty.",
        ),
        (
            "createorg Acme --owner not-an-email",
            "'not-an-email' is not a valid email address.",
        ),
    ],
)
def test_createorg_rejects_bad_input_and_writes_nothing(line, message):
    """A bad name or email fails with one line and leaves no user or organization."""
    before = Organization.objects.count()
    assert fails(line) == message
    assert Organization.objects.count() == before
    assert not User.objects.exists()


# createproject


def test_createproject_creates_a_project_owned_by_the_owner(organization, user):
    """The owner becomes the project's owner and an organization member."""
    out = run(
        f"createproject --org {organization.public_id} --name Research --owner {user.email}"
    )
    project = organization.projects.get(name="Research")
    assert out == (
        f"Created project 'Research' ({project.public_id}) in organization {organization.public_id}.\n"
    )
    assert ProjectMember.objects.get(project=project).user == user
    assert OrganizationMember.objects.filter(
        organization=organization, user=user
    ).exists()


def test_createproject_json_accepts_the_default_alias(default_org):
    """--org default names the default organization; --json reports id, name and org."""
    body = run_json("createproject --org default --name Shared")
    project = default_org.projects.get(public_id=body["id"])
    assert body == {
        "id": project.public_id,
        "name": "Shared",
        "org": default_org.public_id,
    }
    assert not project.memberships.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("createproject --org org_x --name Research", "No organization 'org_x'."),
        (
            "createproject --org default --name ' '",
            "The project name must not be empty.",
        ),
    ],
)
def test_createproject_rejects_bad_input(default_org, line, message):
    assert fails(line) == message


# createapikey


def test_createapikey_prints_only_a_secret_that_verifies(default_org, settings):
    """In the default org an unknown owner is registered; the key is for their Default Project."""
    out = run("createapikey --kind project --org default --owner a@example.com")
    [secret] = out.splitlines()
    api_key = api_key_verify(secret=secret)
    assert (api_key.owner.email, api_key.organization) == ("a@example.com", default_org)
    assert api_key.project is not None
    assert api_key.project.name == settings.DEFAULT_PROJECT_NAME
    assert api_key.project.memberships.get().role == "owner"


def test_createapikey_json_for_an_admin_key(organization, org_owner):
    """--json reports the key; an admin key has no project; --expires-in sets the expiry."""
    body = run_json(
        f"createapikey --kind admin --org {organization.public_id} --owner {org_owner.email}"
        " --name ops --description CI --expires-in 30"
    )
    api_key = ApiKey.objects.get(public_id=body["id"])
    assert api_key.expires_at is not None
    assert body == {
        "id": api_key.public_id,
        "key": body["key"],
        "kind": "admin",
        "org": organization.public_id,
        "project": None,
        "name": "ops",
        "hint": api_key.hint,
        "expires_at": api_key.expires_at.isoformat(),
    }
    assert api_key_verify(secret=body["key"]) == api_key
    assert api_key.description == "CI"
    remaining = api_key.expires_at - timezone.now()
    assert timedelta(days=29, hours=23) < remaining <= timedelta(days=30)


@pytest.mark.parametrize("access", ["project member", "organization owner"])
def test_createapikey_for_a_named_project(project, access):
    """A key for --project needs a project member or an organization owner."""
    organization = project.organization
    if access == "project member":
        owner = ProjectMemberFactory.create(project=project).user
    else:
        owner = OrganizationMemberFactory.create(
            organization=organization, role="owner"
        ).user
    body = run_json(
        f"createapikey --kind project --org {organization.public_id}"
        f" --project {project.public_id} --owner {owner.email}"
    )
    assert body["project"] == project.public_id
    assert api_key_verify(secret=body["key"]).project == project


@pytest.mark.parametrize("days", ["0", "-3", "1.5", "abc"])
def test_createapikey_rejects_a_bad_expiry(default_org, days):
    line = f"createapikey --kind project --org default --owner a@example.com --expires-in={days}"
    assert (
        fails(line)
        == f"--expires-in must be a positive whole number of days, got '{days}'."
    )
    assert not ApiKey.objects.exists()


def test_createapikey_rejects_project_with_an_admin_key(
    organization, org_owner, project
):
    line = f"createapikey --kind admin --org {organization.public_id} --owner {org_owner.email}"
    assert fails(f"{line} --project {project.public_id}") == (
        "--project is only allowed with --kind project."
    )


def test_createapikey_admin_key_needs_an_organization_owner(organization):
    reader = OrganizationMemberFactory.create(organization=organization).user
    line = f"createapikey --kind admin --org {organization.public_id} --owner {reader.email}"
    assert fails(line) == (
        f"{reader.email} is not an owner of organization {organization.public_id}; "
        "admin keys belong to organization owners."
    )


def test_createapikey_rejects_a_project_of_another_organization(
    organization, org_owner
):
    other = ProjectFactory.create()
    line = f"createapikey --kind project --org {organization.public_id} --owner {org_owner.email}"
    assert fails(f"{line} --project {other.public_id}") == (
        f"No project '{other.public_id}' in organization {organization.public_id}."
    )


def test_createapikey_project_key_needs_project_access(project):
    organization = project.organization
    reader = OrganizationMemberFactory.create(organization=organization).user
    line = f"createapikey --kind project --org {organization.public_id} --owner {reader.email}"
    assert fails(f"{line} --project {project.public_id}") == (
        f"{reader.email} is neither a member of project {project.public_id} "
        f"nor an owner of organization {organization.public_id}."
    )


def test_createapikey_outside_the_default_org_does_not_register_users(organization):
    line = f"createapikey --kind project --org {organization.public_id} --owner nobody@example.com"
    assert fails(line) == "No user with email 'nobody@example.com'."
    assert not User.objects.exists()


def test_createapikey_personal_project_needs_organization_membership(
    organization, user
):
    line = f"createapikey --kind project --org {organization.public_id} --owner {user.email}"
    assert (
        fails(line)
        == f"{user.email} is not a member of organization {organization.public_id}."
    )


def test_createapikey_rejects_an_unknown_kind(default_org):
    with pytest.raises(CommandError, match="invalid choice: 'root'"):
        run("createapikey --kind root --org default --owner a@example.com")


# revokeapikey


def test_revokeapikey_stops_the_key_from_verifying(project_key):
    api_key, secret = project_key
    out = run(f"revokeapikey {api_key.public_id}")
    assert out.startswith(f"Revoked API key {api_key.public_id} at ")
    with pytest.raises(Unauthenticated):
        api_key_verify(secret=secret)


def test_revokeapikey_on_a_revoked_key_succeeds_and_keeps_the_time(project_key):
    api_key = api_key_revoke(api_key=project_key[0])
    assert api_key.revoked_at is not None
    out = run(f"revokeapikey {api_key.public_id}")
    assert out.startswith(f"API key {api_key.public_id} was already revoked at ")
    body = run_json(f"revokeapikey {api_key.public_id}")
    assert body == {
        "id": api_key.public_id,
        "revoked_at": api_key.revoked_at.isoformat(),
    }


def test_revokeapikey_rejects_an_unknown_id():
    assert fails("revokeapikey key_nope") == "No API key 'key_nope'."


# listapikeys


def _keys_in_every_status(organization, owner) -> dict[str, tuple[ApiKey, str]]:
    """One key per status (and an admin key), by status."""

    def project_key() -> tuple[ApiKey, str]:
        project = ProjectFactory.create(organization=organization)
        return api_key_create(
            kind="project", organization=organization, project=project, owner=owner
        )

    keys = {
        status: project_key()
        for status in ("active", "revoked", "expired", "disabled", "archived")
    }
    keys["admin"] = api_key_create(kind="admin", organization=organization, owner=owner)
    api_key_revoke(api_key=keys["revoked"][0])
    yesterday = timezone.now() - timedelta(days=1)
    ApiKey.objects.filter(pk=keys["expired"][0].pk).update(expires_at=yesterday)
    ApiKey.objects.filter(pk=keys["disabled"][0].pk).update(enabled=False)
    archived = keys["archived"][0].project
    assert archived is not None
    project_archive(project=archived)
    return keys


def test_listapikeys_json_has_every_field_and_no_secret(organization, org_owner):
    keys = _keys_in_every_status(organization, org_owner)
    rows = run_json("listapikeys --include-revoked")
    by_id = {row["id"]: row for row in rows}
    assert len(rows) == len(keys)
    for status, (api_key, secret) in keys.items():
        row = by_id[api_key.public_id]
        assert set(row) == {
            "id", "kind", "org", "project", "owner", "name", "hint",
            "created_at", "expires_at", "revoked_at", "last_used_at", "status",
        }  # fmt: skip
        assert row["status"] == ("active" if status == "admin" else status)
        assert (row["owner"], row["org"], row["hint"]) == (
            org_owner.email,
            organization.public_id,
            api_key.hint,
        )
        assert secret not in json.dumps(rows)
        assert api_key.key_hash not in json.dumps(rows)


def test_listapikeys_hides_revoked_keys_unless_asked(organization, org_owner):
    revoked = _keys_in_every_status(organization, org_owner)["revoked"][0].public_id
    assert revoked not in {row["id"] for row in run_json("listapikeys")}
    assert revoked in run("listapikeys --include-revoked")


def test_listapikeys_table_shows_ids_and_hints_but_no_secrets(project_key, admin_key):
    out = run("listapikeys")
    header, *rows = out.splitlines()
    assert header.split() == [
        "ID", "KIND", "ORG", "PROJECT", "OWNER", "NAME", "HINT",
        "CREATED", "EXPIRES", "STATUS", "LAST", "USED",
    ]  # fmt: skip
    assert len(rows) == 2
    for api_key, secret in (project_key, admin_key):
        assert api_key.public_id in out
        assert api_key.hint in out
        assert secret not in out
        assert api_key.key_hash not in out


def test_listapikeys_filters_by_organization(project_key, default_org, user):
    project = ProjectFactory.create(organization=default_org)
    ProjectMemberFactory.create(project=project, user=user)
    other, _ = api_key_create(
        kind="project", organization=default_org, project=project, owner=user
    )
    rows = run_json(f"listapikeys --org {project_key[0].organization.public_id}")
    assert [row["id"] for row in rows] == [project_key[0].public_id]
    assert other.public_id in run("listapikeys")


def test_listapikeys_runs_a_constant_number_of_queries(
    organization, org_owner, django_assert_num_queries
):
    """Organizations, projects and owners are joined: no query per key."""
    _keys_in_every_status(organization, org_owner)
    with django_assert_num_queries(3):  # savepoint, the list, release
        run("listapikeys --include-revoked --json")


def test_listapikeys_without_keys():
    assert run("listapikeys") == "No API keys.\n"
    assert run_json("listapikeys") == []


def test_listapikeys_rejects_an_unknown_org():
    assert fails("listapikeys --org org_x") == "No organization 'org_x'."


# bootstrap


def test_bootstrap_makes_configured_admins_owners_idempotently(settings, default_org):
    """Running twice leaves one owner membership per configured email."""
    settings.ORGANIZATION_ADMIN_EMAILS = ["boss@example.com"]
    assert (
        run("bootstrap")
        == run("bootstrap")
        == (
            f"Default organization: 'Default' ({default_org.public_id}).\n"
            "Owners ensured: boss@example.com.\n"
        )
    )
    members = default_org.memberships.filter(user__email="boss@example.com")
    assert list(members.values_list("role", flat=True)) == ["owner"]


def test_bootstrap_json_adds_admin_emails_once(settings, default_org):
    """--admin-email adds to the settings; an email given twice is ensured once."""
    settings.ORGANIZATION_ADMIN_EMAILS = ["boss@example.com"]
    body = run_json(
        "bootstrap --admin-email Ops@Example.com --admin-email BOSS@example.com"
    )
    assert body == {
        "organization": {"id": default_org.public_id, "name": "Default"},
        "owners": ["boss@example.com", "ops@example.com"],
    }
    owners = default_org.memberships.filter(role="owner").values_list(
        "user__email", flat=True
    )
    assert sorted(owners) == ["boss@example.com", "ops@example.com"]


def test_bootstrap_promotes_an_existing_member(settings, default_org):
    existing = UserFactory.create()
    OrganizationMemberFactory.create(organization=default_org, user=existing)
    settings.ORGANIZATION_ADMIN_EMAILS = [existing.email]
    run("bootstrap")
    assert default_org.memberships.get(user=existing).role == "owner"


def test_bootstrap_without_admins_says_so(settings, default_org):
    settings.ORGANIZATION_ADMIN_EMAILS = []
    assert "No owners configured" in run("bootstrap")
    assert run_json("bootstrap")["owners"] == []


def test_bootstrap_rejects_an_invalid_email(settings, default_org):
    settings.ORGANIZATION_ADMIN_EMAILS = ["boss@example.com"]
    assert (
        fails("bootstrap --admin-email nope") == "'nope' is not a valid email address."
    )
    assert not User.objects.exists()


# A real `manage.py` process against a fresh SQLite file.


def _manage(database: Path, line: str) -> subprocess.CompletedProcess[str]:
    prefixes = ("DJANGO_", "PYTEST", "DATABASE_", "REDIS_", "JWT_", "APIKEY_")
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(prefixes)
    }
    env.update(
        DJANGO_SETTINGS_MODULE="janserver.settings",
        DJANGO_DEBUG="1",
        DATABASE_URL=f"sqlite:///{database}",
        JANSERVER_ENV_FILE="",  # never the checkout's own .env
    )
    return subprocess.run(
        [sys.executable, "manage.py", *shlex.split(line)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.server
def test_manage_py_creates_and_lists_a_key_on_a_fresh_database(migrated_sqlite):
    """Create a key (stdout is the bare secret), list it without the secret, fail cleanly."""
    database = migrated_sqlite
    created = _manage(
        database, "createapikey --kind project --org default --owner a@example.com"
    )
    assert created.returncode == 0, created.stderr
    [secret] = created.stdout.splitlines()
    assert secret.startswith("sk-project_")

    listed = _manage(database, "listapikeys --json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["id"].startswith("key_")
    assert (row["owner"], row["hint"]) == ("a@example.com", "sk-…" + secret[-4:])
    assert secret not in listed.stdout
    assert "key_hash" not in listed.stdout

    assert _manage(database, "createapikey --help").returncode == 0
    failed = _manage(
        database, "createapikey --kind project --org org_x --owner a@example.com"
    )
    assert failed.returncode != 0
    assert failed.stdout == ""
    assert failed.stderr.splitlines() == ["CommandError: No organization 'org_x'."]
