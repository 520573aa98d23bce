"""Provider services: validation, scopes, keys, model syncs, health checks, Jan's setup."""

import logging
import socket

import pytest

from inference import catalog, provider_client
from inference.models import Provider, ProviderModel, UsageRecord
from inference.selectors import provider_api_key
from inference.services import (
    base_url_normalize,
    jan_provider_setup,
    provider_create,
    provider_delete,
    provider_models_sync,
    provider_reconfigure,
    provider_register,
    provider_update,
    providers_check,
)
from inference.testing.fake_vllm import refusing_url, run_in_thread
from janserver.errors import (
    Conflict,
    InvalidRequest,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from orgs.tests.factories import OrganizationFactory, ProjectFactory

pytestmark = pytest.mark.django_db

UNREACHABLE = "The model server is unreachable."


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MODEL_PROVIDER_SECRET = "provider-secret-" + "s" * 48


@pytest.fixture
def invalidations(monkeypatch):
    """Count catalog invalidations."""
    calls = []
    monkeypatch.setattr(catalog, "invalidate", lambda: calls.append(1))
    return calls


@pytest.fixture(scope="module")
def upstream_ab():
    with run_in_thread(models=("a", "b")) as server:
        yield server


@pytest.fixture(scope="module")
def upstream_bc():
    with run_in_thread(models=("b", "c")) as server:
        yield server


@pytest.fixture
def down_url():
    with refusing_url() as url:
        yield url


@pytest.fixture
def hanging_url():
    """A server that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.fixture
def listed(monkeypatch):
    """Make the upstream list the given model objects; records the calls."""
    calls = []

    def serve(items):
        def models_fetch(*, base_url, api_key=None, reach=None):
            calls.append({"base_url": base_url, "api_key": api_key})
            return items

        monkeypatch.setattr(provider_client, "models_fetch", models_fetch)
        return calls

    return serve


def models_of(provider):
    return dict(
        ProviderModel.objects.filter(provider=provider)
        .order_by("model_id")
        .values_list("model_id", "active")
    )


# Base URLs.


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("http://127.0.0.1:8101/v1", "http://127.0.0.1:8101/v1"),
        ("  http://127.0.0.1:8101/v1/  ", "http://127.0.0.1:8101/v1"),
        ("HTTPS://Models.Example.COM/v1", "https://models.example.com/v1"),
        ("http://jan-inference-model:8101/v1", "http://jan-inference-model:8101/v1"),
        ("http://vllm_1/v1//", "http://vllm_1/v1"),
        ("http://[::1]:8000/v1", "http://[::1]:8000/v1"),
        ("https://api.example.com", "https://api.example.com"),
        ("http://host:/v1", "http://host/v1"),
        ("https://example.com/openai/v1", "https://example.com/openai/v1"),
    ],
)
def test_http_and_https_base_urls_are_normalized(given, normalized):
    assert base_url_normalize(given) == normalized


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("ftp://example.com/v1", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("data:text/plain,hello", "must start with http:// or https://"),
        ("//example.com/v1", "must start with http:// or https://"),
        ("example.com/v1", "must start with http:// or https://"),
        ("http://", "must name a host"),
        ("http:///v1", "must name a host"),
        ("http://user:pw@example.com/v1", "must not contain credentials"),
        ("http://user@example.com/v1", "must not contain credentials"),
        ("http://example.com/v1?key=1", "must not have a query or a fragment"),
        ("http://example.com/v1?", "must not have a query or a fragment"),
        ("http://example.com/v1#top", "must not have a query or a fragment"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("http://exa mple.com/v1", "must not contain spaces or control characters"),
        ("http://example.com/\tv1", "must not contain spaces"),
        ("http://example.com\r\n/v1", "must not contain spaces"),
        ("http://example.com:99999/v1", "is not a valid URL"),
        ("http://example.com:0/v1", "has an invalid port"),
        ("http://-bad-/v1", "has an invalid host name"),
        ("http://ex%41mple.com/v1", "has an invalid host name"),
        ("http://169.254.169.254/latest", "must not point at a link-local"),
        ("http://[fe80::1]/v1", "must not point at a link-local"),
        ("http://0.0.0.0:8000/v1", "must not point at a multicast or unspecified"),
        ("http://" + "a" * 500 + ".com", "must be at most 500 characters"),
    ],
)
def test_other_base_urls_are_refused(given, reason):
    with pytest.raises(InvalidRequest) as excinfo:
        base_url_normalize(given)
    assert excinfo.value.param == "base_url"
    assert excinfo.value.message.startswith("The base URL ")
    assert reason in excinfo.value.message


# Create, update, delete.


def test_create_a_shared_provider(invalidations):
    """Without an organization the provider is shared; the catalog is invalidated."""
    provider = provider_create(name=" vLLM ", base_url="http://127.0.0.1:9/v1/")
    provider.refresh_from_db()
    assert (provider.name, provider.base_url, provider.scope) == (
        "vLLM",
        "http://127.0.0.1:9/v1",
        "global",
    )
    assert (provider.vendor, provider.weight, provider.active) == ("vllm", 1, True)
    assert (provider.api_key_encrypted, provider.api_key_hint) == ("", "")
    assert provider_api_key(provider) is None
    assert invalidations == [1]


def test_a_project_provider_belongs_to_the_projects_organization():
    project = ProjectFactory()
    provider = provider_create(name="P", base_url="http://h/v1", project=project)
    assert (provider.organization, provider.project, provider.scope) == (
        project.organization,
        project,
        "project",
    )
    org_provider = provider_create(
        name="P", base_url="http://h/v1", organization=project.organization
    )
    assert org_provider.scope == "organization"


def test_a_project_of_another_organization_is_refused():
    with pytest.raises(InvalidRequest) as excinfo:
        provider_create(
            name="P",
            base_url="http://h/v1",
            organization=OrganizationFactory(),
            project=ProjectFactory(),
        )
    assert excinfo.value.param == "project"
    assert not Provider.objects.exists()


def test_names_are_unique_per_scope_ignoring_case():
    organization = OrganizationFactory()
    provider_create(name="Jan", base_url="http://h/v1")
    with pytest.raises(Conflict) as excinfo:
        provider_create(name="JAN", base_url="http://h/v1")
    assert excinfo.value.param == "name"
    assert excinfo.value.message == (
        "A provider named 'JAN' already exists in this scope."
    )
    # The same name in other scopes is fine.
    provider_create(name="Jan", base_url="http://h/v1", organization=organization)
    provider_create(
        name="Jan",
        base_url="http://h/v1",
        project=ProjectFactory(organization=organization),
    )
    assert Provider.objects.count() == 3


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"vendor": "ollama"}, "vendor"),
        ({"weight": 0}, "weight"),
        ({"weight": 1001}, "weight"),
        ({"api_key": "has space"}, "api_key"),
        ({"api_key": "new\nline"}, "api_key"),
        ({"api_key": "x" * 4097}, "api_key"),
        ({"base_url": "ftp://h/v1"}, "base_url"),
    ],
)
def test_invalid_fields_are_refused_with_their_param(fields, param, invalidations):
    with pytest.raises(InvalidRequest) as excinfo:
        provider_create(**({"name": "P", "base_url": "http://h/v1"} | fields))
    assert excinfo.value.param == param
    assert not Provider.objects.exists()
    assert invalidations == []


def test_production_without_a_secret_refuses_keys_but_not_keyless_providers(settings):
    settings.MODEL_PROVIDER_SECRET = ""
    settings.DEBUG = False
    with pytest.raises(InvalidRequest) as excinfo:
        provider_create(name="Remote", base_url="https://h/v1", api_key="sk-abcdefgh")
    assert excinfo.value.param == "api_key"
    assert excinfo.value.message == (
        "This server cannot store provider API keys: MODEL_PROVIDER_SECRET is not set."
    )
    local = provider_create(name="Local", base_url="http://vllm:8101/v1")
    assert provider_api_key(local) is None


def test_update_changes_only_the_given_fields(invalidations):
    provider = provider_create(
        name="Old", base_url="http://h/v1", api_key="sk-first-key-1234"
    )
    hint = provider.api_key_hint
    provider_update(provider=provider, name="New", weight=3, active=False)
    provider.refresh_from_db()
    assert (provider.name, provider.weight, provider.active) == ("New", 3, False)
    assert (provider.base_url, provider.api_key_hint) == ("http://h/v1", hint)
    assert provider_api_key(provider) == "sk-first-key-1234"
    assert invalidations == [1, 1]


def test_update_replaces_and_removes_the_api_key():
    provider = provider_create(name="P", base_url="http://h/v1", api_key="sk-one-11111")
    provider_update(provider=provider, api_key="sk-two-22222")
    provider.refresh_from_db()
    assert (provider_api_key(provider), provider.api_key_hint) == (
        "sk-two-22222",
        "…2222",
    )
    provider_update(provider=provider, api_key="")
    provider.refresh_from_db()
    assert (provider.api_key_encrypted, provider.api_key_hint) == ("", "")


def test_rename_onto_a_taken_name_is_a_conflict():
    provider_create(name="A", base_url="http://h/v1")
    provider = provider_create(name="B", base_url="http://h/v1")
    with pytest.raises(Conflict):
        provider_update(provider=provider, name="a")
    provider_update(provider=provider, name="b")  # its own name, another case


def test_delete_removes_models_and_keeps_usage_records(invalidations):
    provider = provider_create(name="P", base_url="http://h/v1")
    ProviderModel.objects.create(provider=provider, model_id="m")
    usage = UsageRecord.objects.create(
        request_id="req_1", provider=provider, endpoint="chat", model="m", status="ok"
    )
    provider_delete(provider=provider)
    assert not Provider.objects.exists()
    assert not ProviderModel.objects.exists()
    usage.refresh_from_db()
    assert usage.provider is None
    assert invalidations == [1, 1]


# Model sync.


def test_sync_mirrors_the_upstream_models(upstream_ab, upstream_bc, invalidations):
    """New ids are added, vanished ones deactivated, returning ones reactivated."""
    provider = provider_create(name="P", base_url=upstream_ab.base_url)
    assert provider_models_sync(provider=provider) == (2, 0, 0)
    assert models_of(provider) == {"a": True, "b": True}
    lengths = ProviderModel.objects.values_list("context_length", flat=True)
    assert set(lengths) == {32768}
    assert provider_models_sync(provider=provider) == (0, 0, 0)

    Provider.objects.filter(pk=provider.pk).update(base_url=upstream_bc.base_url)
    provider.refresh_from_db()
    assert provider_models_sync(provider=provider) == (1, 0, 1)
    assert models_of(provider) == {"a": False, "b": True, "c": True}

    Provider.objects.filter(pk=provider.pk).update(base_url=upstream_ab.base_url)
    provider.refresh_from_db()
    assert provider_models_sync(provider=provider) == (0, 1, 1)
    assert models_of(provider) == {"a": True, "b": True, "c": False}
    # One for the create, one per sync that changed something.
    assert invalidations == [1, 1, 1, 1]


def test_sync_of_an_unreachable_upstream_changes_nothing(down_url, invalidations):
    provider = provider_create(name="P", base_url=down_url)
    ProviderModel.objects.create(provider=provider, model_id="kept")
    with pytest.raises(ServiceUnavailable) as excinfo:
        provider_models_sync(provider=provider)
    assert excinfo.value.message == UNREACHABLE
    assert models_of(provider) == {"kept": True}
    assert invalidations == [1]


def test_sync_sends_the_decrypted_key_and_reads_context_lengths(listed):
    calls = listed(
        [
            {"id": "vllm", "max_model_len": 8192},
            {"id": "openrouter", "context_length": 4096},
            {"id": "none"},
            {"id": "silly", "max_model_len": True},
            {"id": "negative", "max_model_len": -1},
            {"id": "huge", "max_model_len": 2**40},
            {"id": "vllm", "max_model_len": 1},  # a duplicate: the first one counts
            {"id": "  "},
            {"id": "x" * 201},
        ]
    )
    provider = provider_create(
        name="P", base_url="https://h/v1", api_key="sk-upstream-secret"
    )
    assert provider_models_sync(provider=provider) == (6, 0, 0)
    assert calls == [{"base_url": "https://h/v1", "api_key": "sk-upstream-secret"}]
    lengths = dict(ProviderModel.objects.values_list("model_id", "context_length"))
    assert lengths == {
        "vllm": 8192,
        "openrouter": 4096,
        "none": None,
        "silly": None,
        "negative": None,
        "huge": None,
    }


def test_a_changed_context_length_counts_as_an_update(listed):
    provider = provider_create(name="P", base_url="https://h/v1")
    listed([{"id": "m", "max_model_len": 8192}])
    provider_models_sync(provider=provider)
    listed([{"id": "m", "max_model_len": 16384}])
    assert provider_models_sync(provider=provider) == (0, 1, 0)
    assert ProviderModel.objects.get().context_length == 16384


def test_an_upstream_listing_too_many_models_is_refused(listed):
    listed([{"id": f"m{i}"} for i in range(1001)])
    provider = provider_create(name="P", base_url="https://h/v1")
    with pytest.raises(UpstreamError):
        provider_models_sync(provider=provider)
    assert not ProviderModel.objects.exists()


def test_sync_refreshes_prefetched_models(upstream_ab):
    provider = provider_create(name="P", base_url=upstream_ab.base_url)
    provider = Provider.objects.prefetch_related("models").get(pk=provider.pk)
    assert list(provider.models.all()) == []
    provider_models_sync(provider=provider)
    assert sorted(m.model_id for m in provider.models.all()) == ["a", "b"]


def test_register_keeps_the_provider_when_its_sync_fails(upstream_ab, down_url):
    provider, error = provider_register(name="Up", base_url=upstream_ab.base_url)
    assert (error, models_of(provider)) == (None, {"a": True, "b": True})
    provider, error = provider_register(name="Down", base_url=down_url)
    assert (error, models_of(provider)) == (UNREACHABLE, {})
    provider, error = provider_register(name="Later", base_url=down_url, sync=False)
    assert (error, models_of(provider)) == (None, {})


def test_reconfigure_resyncs_only_when_the_connection_changes(upstream_ab, down_url):
    provider, _ = provider_register(name="P", base_url=down_url, sync=False)
    provider, error = provider_reconfigure(provider=provider, weight=2)
    assert (error, models_of(provider)) == (None, {})
    provider, error = provider_reconfigure(
        provider=provider, base_url=upstream_ab.base_url
    )
    assert (error, models_of(provider)) == (None, {"a": True, "b": True})
    provider, error = provider_reconfigure(provider=provider, base_url=down_url)
    assert error == UNREACHABLE
    assert models_of(provider) == {"a": True, "b": True}


def test_an_upstream_that_does_not_answer_times_out(monkeypatch, hanging_url):
    """A model list or probe gets CALL_SECONDS; a request thread waits."""
    monkeypatch.setattr(provider_client, "CALL_SECONDS", 0.2)
    provider = provider_create(name="P", base_url=hanging_url)
    with pytest.raises(UpstreamTimeout):
        provider_models_sync(provider=provider)
    assert providers_check() == [(provider, False)]


# Health checks.


def test_check_probes_every_provider(upstream_ab, down_url):
    up = provider_create(name="Up", base_url=upstream_ab.base_url)
    down = provider_create(name="Down", base_url=down_url, active=False)
    assert providers_check() == [(up, True), (down, False)]
    assert providers_check(providers=[down]) == [(down, False)]


def test_a_provider_with_an_unreadable_key_counts_as_down(upstream_ab, settings):
    provider = provider_create(
        name="P", base_url=upstream_ab.base_url, api_key="sk-abcdefgh"
    )
    settings.MODEL_PROVIDER_SECRET = "another-secret-" + "t" * 48
    assert providers_check() == [(provider, False)]


# Jan's provider.


@pytest.fixture
def jan_settings(settings):
    settings.JAN_INFERENCE_SETUP = True
    return settings


def test_jan_setup_does_nothing_when_off(settings, upstream_ab):
    settings.JAN_INFERENCE_SETUP = False
    settings.JAN_INFERENCE_MODEL_URL = upstream_ab.base_url
    assert jan_provider_setup() is None
    assert not Provider.objects.exists()


def test_jan_setup_is_idempotent_and_follows_the_url(
    jan_settings, upstream_ab, upstream_bc
):
    jan_settings.JAN_INFERENCE_MODEL_URL = upstream_ab.base_url + "/"
    first = jan_provider_setup()
    assert (first.name, first.scope, first.base_url) == (
        "Jan",
        "global",
        upstream_ab.base_url,
    )
    assert models_of(first) == {"a": True, "b": True}
    again = jan_provider_setup()
    assert again.pk == first.pk
    assert Provider.objects.count() == 1

    Provider.objects.filter(pk=first.pk).update(weight=5, active=False)
    jan_settings.JAN_INFERENCE_MODEL_URL = upstream_bc.base_url
    moved = jan_provider_setup()
    moved.refresh_from_db()
    assert (moved.pk, moved.base_url) == (first.pk, upstream_bc.base_url)
    assert (moved.weight, moved.active) == (5, False)  # the operator's choices stay
    assert models_of(moved) == {"a": False, "b": True, "c": True}


def test_jan_setup_applies_the_configured_vendor(jan_settings, down_url):
    """JAN_INFERENCE_VENDOR (vllm by default) is the Jan provider's vendor, on create
    and when it changes; an unknown vendor is a clear error."""
    jan_settings.JAN_INFERENCE_MODEL_URL = down_url
    assert jan_provider_setup().vendor == "vllm"
    jan_settings.JAN_INFERENCE_VENDOR = "llama.cpp"
    provider = jan_provider_setup()
    provider.refresh_from_db()
    assert provider.vendor == "llama.cpp"
    assert Provider.objects.count() == 1
    jan_settings.JAN_INFERENCE_VENDOR = "ollama"
    with pytest.raises(InvalidRequest, match="JAN_INFERENCE_VENDOR must be one of"):
        jan_provider_setup()


def test_jan_setup_tolerates_a_down_upstream(jan_settings, down_url, caplog):
    jan_settings.JAN_INFERENCE_MODEL_URL = down_url
    with caplog.at_level(logging.WARNING, logger="janserver.providers"):
        provider = jan_provider_setup()
    assert provider is not None
    assert models_of(provider) == {}
    assert "were not synced: The model server is unreachable." in caplog.text
    assert jan_provider_setup().pk == provider.pk


def test_jan_setup_keeps_a_jan_provider_of_an_organization_apart(
    jan_settings, down_url
):
    organization = OrganizationFactory()
    own = provider_create(
        name="Jan", base_url="http://own/v1", organization=organization
    )
    jan_settings.JAN_INFERENCE_MODEL_URL = down_url
    shared = jan_provider_setup()
    assert shared.pk != own.pk
    own.refresh_from_db()
    assert own.base_url == "http://own/v1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "JAN_INFERENCE_SETUP is on but JAN_INFERENCE_MODEL_URL is not set."),
        (
            "file:///etc/passwd",
            "JAN_INFERENCE_MODEL_URL: The base URL must start with http:// or https://.",
        ),
    ],
)
def test_jan_setup_refuses_a_missing_or_invalid_url(jan_settings, url, message):
    jan_settings.JAN_INFERENCE_MODEL_URL = url
    with pytest.raises(InvalidRequest) as excinfo:
        jan_provider_setup()
    assert excinfo.value.message == message
    assert not Provider.objects.exists()
