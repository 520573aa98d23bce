"""Provider commands: addprovider, syncmodels, checkproviders, and bootstrap's provider."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from inference.models import Provider, ProviderModel
from inference.selectors import provider_api_key
from inference.services import provider_create
from inference.testing.fake_vllm import refusing_url, run_in_thread
from orgs.tests.factories import OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.django_db

KEY = "sk-upstream-secret-4321"
UNREACHABLE = "The model server is unreachable."


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MODEL_PROVIDER_SECRET = "provider-secret-" + "s" * 48


@pytest.fixture(scope="module")
def upstream():
    with run_in_thread(models=("a", "b")) as server:
        yield server


@pytest.fixture
def down_url():
    with refusing_url() as url:
        yield url


def run(*args):
    """Run a command in-process; return its stdout."""
    stdout = io.StringIO()
    call_command(*args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def fails(*args):
    """Run a command that must fail; return (its one-line error, its stdout)."""
    stdout = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command(*args, stdout=stdout, stderr=io.StringIO())
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value), stdout.getvalue()


# addprovider


def test_addprovider_registers_a_shared_provider_and_syncs(upstream):
    out = run("addprovider", "GPU", "--base-url", upstream.base_url + "/")
    provider = Provider.objects.get()
    assert out == (
        f"Registered provider 'GPU' ({provider.public_id}) at {upstream.base_url} "
        "for all organizations.\nModels: a, b.\n"
    )
    assert provider.scope == "global"


def test_addprovider_json_never_prints_the_key(upstream):
    project = ProjectFactory()
    out = run(
        "addprovider",
        "Proj",
        "--base-url",
        upstream.base_url,
        "--api-key",
        KEY,
        "--vendor",
        "openai",
        "--project",
        project.public_id,
        "--weight",
        "4",
        "--json",
    )
    assert KEY[3:-4] not in out
    provider = Provider.objects.get()
    assert json.loads(out) == {
        "id": provider.public_id,
        "name": "Proj",
        "vendor": "openai",
        "base_url": upstream.base_url,
        "scope": "project",
        "organization": project.organization.public_id,
        "project": project.public_id,
        "active": True,
        "weight": 4,
        "api_key_hint": "…4321",
        "models": ["a", "b"],
        "sync_error": None,
    }
    assert provider_api_key(provider) == KEY


def test_addprovider_reads_the_key_from_stdin(monkeypatch, down_url):
    monkeypatch.setattr("sys.stdin", io.StringIO(KEY + "\n"))
    run("addprovider", "P", "--base-url", down_url, "--api-key", "-", "--no-sync")
    assert provider_api_key(Provider.objects.get()) == KEY


def test_addprovider_for_an_organization_without_sync(down_url, default_org):
    out = run(
        "addprovider", "Later", "--base-url", down_url, "--org", "default", "--no-sync"
    )
    provider = Provider.objects.get()
    assert provider.organization == default_org
    assert out.endswith("Models: none.\n")


def test_addprovider_reports_a_failed_sync_but_keeps_the_provider(down_url):
    out = run("addprovider", "Down", "--base-url", down_url)
    assert out.endswith(f"Models not synced: {UNREACHABLE}\n")
    body = json.loads(run("addprovider", "Down2", "--base-url", down_url, "--json"))
    assert (body["sync_error"], body["models"]) == (UNREACHABLE, [])
    assert Provider.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--base-url", "file:///etc/passwd"],
            "The base URL must start with http:// or https://.",
        ),
        (["--base-url", "http://h/v1", "--org", "org_x"], "No organization 'org_x'."),
        (["--base-url", "http://h/v1", "--project", "proj_x"], "No project 'proj_x'."),
        (
            ["--base-url", "http://h/v1", "--weight", "0"],
            "The weight must be an integer from 1 to 1000.",
        ),
        (
            ["--base-url", "http://h/v1", "--api-key", "bad key"],
            "The API key must be at most 4096 printable ASCII characters without spaces.",
        ),
    ],
)
def test_addprovider_refuses_bad_input_in_one_line(args, message):
    assert fails("addprovider", "P", *args)[0] == message
    assert not Provider.objects.exists()


def test_addprovider_refuses_a_project_of_another_organization():
    message, _ = fails(
        "addprovider",
        "P",
        "--base-url",
        "http://h/v1",
        "--org",
        OrganizationFactory().public_id,
        "--project",
        (project := ProjectFactory()).public_id,
    )
    assert message == f"No project {project.public_id!r}."


def test_addprovider_refuses_a_duplicate_name():
    provider_create(name="Jan", base_url="http://h/v1")
    message, _ = fails("addprovider", "jan", "--base-url", "http://h/v1")
    assert message == "A provider named 'jan' already exists in this scope."


def test_addprovider_without_a_secret_in_production_refuses_a_key(settings):
    settings.MODEL_PROVIDER_SECRET = ""
    message, _ = fails(
        "addprovider", "P", "--base-url", "http://h/v1", "--api-key", KEY, "--no-sync"
    )
    assert message == (
        "This server cannot store provider API keys: MODEL_PROVIDER_SECRET is not set."
    )


# syncmodels


def test_syncmodels_by_id_or_name(upstream):
    provider = provider_create(name="GPU box", base_url=upstream.base_url)
    out = run("syncmodels", provider.public_id)
    assert out == (
        f"'GPU box' ({provider.public_id}): 2 added, 0 updated, 0 deactivated; "
        "models: a, b.\n"
    )
    ProviderModel.objects.filter(model_id="a").update(active=False)
    body = json.loads(run("syncmodels", "gpu BOX", "--json"))
    assert body == [
        {
            "id": provider.public_id,
            "name": "GPU box",
            "ok": True,
            "error": None,
            "created": 0,
            "updated": 1,
            "deactivated": 0,
            "models": ["a", "b"],
        }
    ]


def test_syncmodels_of_all_providers_fails_if_one_fails(upstream, down_url):
    up = provider_create(name="Up", base_url=upstream.base_url)
    down = provider_create(name="Down", base_url=down_url)
    message, out = fails("syncmodels")
    assert message == "1 of 2 providers could not be synced."
    assert out == (
        f"'Up' ({up.public_id}): 2 added, 0 updated, 0 deactivated; models: a, b.\n"
        f"'Down' ({down.public_id}): not synced: {UNREACHABLE}\n"
    )
    message, out = fails("syncmodels", "--json")
    assert [(p["name"], p["ok"], p["error"]) for p in json.loads(out)] == [
        ("Up", True, None),
        ("Down", False, UNREACHABLE),
    ]


def test_syncmodels_with_nothing_to_sync():
    assert run("syncmodels") == "No providers are registered.\n"
    assert json.loads(run("syncmodels", "--json")) == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("prov_x", "No provider 'prov_x'."),
        ("twice", "Several providers are named 'twice'; give the provider's id."),
    ],
)
def test_syncmodels_refuses_unknown_and_ambiguous_names(reference, message):
    provider_create(name="Twice", base_url="http://h/v1")
    provider_create(
        name="Twice", base_url="http://h/v1", organization=OrganizationFactory()
    )
    assert fails("syncmodels", reference)[0] == message


def test_syncmodels_of_one_unreachable_provider_fails(down_url):
    provider = provider_create(name="Down", base_url=down_url)
    assert fails("syncmodels", provider.public_id)[0] == UNREACHABLE


def test_syncmodels_reports_an_unreadable_key_in_one_line(upstream, settings):
    provider = provider_create(name="P", base_url=upstream.base_url, api_key=KEY)
    settings.MODEL_PROVIDER_SECRET = "another-" + "t" * 48
    message, _ = fails("syncmodels", provider.public_id)
    assert message.startswith("A stored provider API key cannot be decrypted")
    message, out = fails("syncmodels")
    assert message == "1 of 1 providers could not be synced."
    assert "cannot be decrypted" in out


# checkproviders


def test_checkproviders_lists_health_and_fails_if_an_active_one_is_down(
    upstream, down_url
):
    up = provider_create(name="Up", base_url=upstream.base_url)
    ProviderModel.objects.create(provider=up, model_id="m")
    down = provider_create(name="Down", base_url=down_url)
    message, out = fails("checkproviders")
    assert message == f"1 active provider(s) unreachable: Down ({down.public_id})."
    lines = out.splitlines()
    assert lines[0].split() == ["PROVIDER", "NAME", "URL", "STATUS", "MODELS"]
    assert lines[1].split() == [up.public_id, "Up", upstream.base_url, "ok", "1"]
    assert lines[2].split() == [down.public_id, "Down", down_url, "unreachable", "0"]
    message, out = fails("checkproviders", "--json")
    assert json.loads(out) == [
        {
            "id": up.public_id,
            "name": "Up",
            "base_url": upstream.base_url,
            "active": True,
            "ok": True,
            "models": 1,
        },
        {
            "id": down.public_id,
            "name": "Down",
            "base_url": down_url,
            "active": True,
            "ok": False,
            "models": 0,
        },
    ]


def test_checkproviders_ignores_inactive_providers_for_the_exit_status(
    upstream, down_url
):
    provider_create(name="Up", base_url=upstream.base_url)
    provider_create(name="Off", base_url=down_url, active=False)
    out = run("checkproviders")
    assert "unreachable (inactive)" in out
    assert [p["ok"] for p in json.loads(run("checkproviders", "--json"))] == [
        True,
        False,
    ]


def test_checkproviders_with_no_providers():
    assert run("checkproviders") == "No providers are registered.\n"


# bootstrap


def test_bootstrap_sets_up_the_jan_provider_idempotently(
    settings, default_org, upstream
):
    settings.ORGANIZATION_ADMIN_EMAILS = []
    settings.JAN_INFERENCE_SETUP = True
    settings.JAN_INFERENCE_MODEL_URL = upstream.base_url
    out = run("bootstrap")
    provider = Provider.objects.get()
    assert out.splitlines()[-1] == (
        f"Provider 'Jan' ({provider.public_id}) at {upstream.base_url}; models: a, b."
    )
    assert run("bootstrap") == out
    assert json.loads(run("bootstrap", "--json"))["provider"] == {
        "id": provider.public_id,
        "name": "Jan",
        "base_url": upstream.base_url,
        "models": ["a", "b"],
    }
    assert Provider.objects.count() == 1


def test_bootstrap_goes_on_when_the_model_server_is_down(
    settings, default_org, down_url
):
    settings.JAN_INFERENCE_SETUP = True
    settings.JAN_INFERENCE_MODEL_URL = down_url
    out = run("bootstrap")
    assert out.splitlines()[-1].endswith("; models: none (see the log).")
    assert Provider.objects.get().name == "Jan"


def test_bootstrap_refuses_a_bad_jan_url_in_one_line(settings, default_org):
    settings.JAN_INFERENCE_SETUP = True
    settings.JAN_INFERENCE_MODEL_URL = "ftp://models/v1"
    message, _ = fails("bootstrap")
    assert message == (
        "JAN_INFERENCE_MODEL_URL: The base URL must start with http:// or https://."
    )
    assert not Provider.objects.exists()


def test_bootstrap_leaves_providers_alone_when_setup_is_off(settings, default_org):
    settings.JAN_INFERENCE_SETUP = False
    assert "Provider" not in run("bootstrap")
    assert "provider" not in json.loads(run("bootstrap", "--json"))
    assert not Provider.objects.exists()
