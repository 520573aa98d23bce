"""`manage.py ratelimit` and the admin: both write through limits.services."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from limits.models import RateLimit

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("ratelimit", *args, stdout=out)
    return out.getvalue()


def test_set_list_and_remove_a_project_limit(project):
    output = run("set", "--project", project.public_id, "--rpm", "60", "--tpm", "9000")
    assert "max_requests_per_1_minute=60, max_tokens_per_1_minute=9000" in output
    run("set", "--project", project.public_id, "--rpm", "none", "--concurrent", "2")
    row = RateLimit.objects.get()
    assert (row.project, row.model) == (project, "")
    assert (row.max_requests_per_1_minute, row.max_tokens_per_1_minute) == (None, 9000)
    assert row.max_concurrent_requests == 2
    assert project.public_id in run("list")
    run("remove", "--project", project.public_id)
    assert not RateLimit.objects.exists()


def test_a_key_limit_belongs_to_the_keys_project(project_key, project):
    key, _ = project_key
    run("set", "--key", key.public_id, "--model", "m", "--rpd", "5")
    row = RateLimit.objects.get()
    assert (row.api_key, row.project, row.organization) == (
        key,
        project,
        project.organization,
    )
    assert row.scope == "api_key"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "--project", "proj_nope", "--rpm", "1"), "No such organization"),
        (("set", "--organization", "{org}", "--rpm", "-3"), "between 0"),
        (("set", "--organization", "{org}", "--rpm", "1.5"), "Not a whole number"),
        (("set", "--organization", "{org}"), "at least one"),
        (("remove", "--organization", "{org}"), "No limit is set"),
    ],
)
def test_bad_commands_fail_clearly_and_change_nothing(organization, args, message):
    args = tuple(a.format(org=organization.public_id) for a in args)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not RateLimit.objects.exists()


def test_the_admin_saves_through_the_service(admin_client, project):
    answer = admin_client.post(
        "/admin/limits/ratelimit/add/",
        {
            "organization": project.organization.pk,
            "project": project.pk,
            "api_key": "",
            "model": "",
            "max_requests_per_1_minute": "30",
            "max_tokens_per_1_minute": "",
            "max_requests_per_1_day": "",
            "max_concurrent_requests": "",
        },
    )
    assert answer.status_code == 302, answer.content[:2000]
    row = RateLimit.objects.get()
    assert (row.project, row.max_requests_per_1_minute) == (project, 30)
    assert admin_client.get("/admin/limits/ratelimit/").status_code == 200


def test_per_user_limits_are_organization_wide(organization, project):
    run("set", "--organization", organization.public_id, "--per-user", "--rpm", "20")
    row = RateLimit.objects.get()
    assert (row.per_user, row.scope, row.max_requests_per_1_minute) == (
        True,
        "user",
        20,
    )
    with pytest.raises(
        CommandError, match="Per-user limits are set on an organization"
    ):
        run("set", "--project", project.public_id, "--per-user", "--rpm", "1")
    run("remove", "--organization", organization.public_id, "--per-user")
    assert not RateLimit.objects.exists()
