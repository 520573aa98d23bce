"""Inference admin: pages render, the API key is write-only, writes go through services."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inference import catalog
from inference.models import Provider, ProviderModel, UsageRecord
from inference.selectors import provider_api_key
from inference.services import provider_create
from inference.testing.fake_vllm import refusing_url, run_in_thread
from orgs.tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

KEY = "sk-admin-typed-key-5678"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MODEL_PROVIDER_SECRET = "provider-secret-" + "s" * 48


@pytest.fixture
def invalidations(monkeypatch):
    calls = []
    monkeypatch.setattr(catalog, "invalidate", lambda: calls.append(1))
    return calls


@pytest.fixture(scope="module")
def upstream():
    with run_in_thread(models=("a", "b")) as server:
        yield server


@pytest.fixture
def down_url():
    with refusing_url() as url:
        yield url


def url(model, page, *args):
    return reverse(f"admin:inference_{model._meta.model_name}_{page}", args=args)


def make_provider(**fields):
    provider = provider_create(
        **({"name": "P", "base_url": "http://vllm:8101/v1", "api_key": KEY} | fields)
    )
    ProviderModel.objects.create(provider=provider, model_id="m", context_length=8)
    return provider


def make_usage():
    provider = make_provider(name=f"U{Provider.objects.count()}")
    project = ProjectFactory()
    return UsageRecord.objects.create(
        request_id="req_1",
        organization=project.organization,
        project=project,
        provider=provider,
        endpoint="chat.completions",
        model="m",
        status="ok",
        prompt_tokens=3,
        completion_tokens=5,
    )


def form_data(**overrides):
    data = {
        "name": "GPU",
        "vendor": "vllm",
        "base_url": "http://jan-inference-model:8101/v1/",
        "organization": "",
        "project": "",
        "weight": "1",
        "active": "on",
        "api_key": "",
        "models-TOTAL_FORMS": "0",
        "models-INITIAL_FORMS": "0",
    }
    return data | overrides


# Pages.


@pytest.mark.parametrize(
    ("model", "make"),
    [
        (Provider, make_provider),
        (ProviderModel, lambda: make_provider().models.get()),
        (UsageRecord, make_usage),
    ],
    ids=["provider", "model", "usage"],
)
def test_list_and_change_pages_render(admin_client, model, make):
    obj = make()
    assert admin_client.get(url(model, "changelist")).status_code == 200
    change = admin_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200
    assert KEY[3:-4] not in change.text


def test_usage_changelist_filters_and_date_hierarchy_render(admin_client):
    record = make_usage()
    today = timezone.now()
    for params in (
        {"status__exact": "ok"},
        {"stream__exact": "0"},
        {"client_disconnected__exact": "0"},
        {"organization__id__exact": record.organization_id},
        {"project__id__exact": record.project_id},
        {"provider__id__exact": record.provider_id},
        {"model": "m"},
        {"created_at__year": today.year, "created_at__month": today.month},
        {"q": "req_1"},
    ):
        response = admin_client.get(url(UsageRecord, "changelist"), params)
        assert response.status_code == 200, params
        assert list(response.context["cl"].result_list) == [record], params


@pytest.mark.parametrize("model", [ProviderModel, UsageRecord])
def test_models_and_usage_are_read_only(admin_client, model):
    """Models come from syncs and usage from the gateway: no add, change or delete."""
    obj = make_provider().models.get() if model is ProviderModel else make_usage()
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.get(url(model, "delete", obj.pk)).status_code == 403
    response = admin_client.post(url(model, "change", obj.pk), {"model": "changed"})
    assert response.status_code == 403


def test_provider_search_finds_public_id_name_and_url(admin_client):
    target = make_provider(name="Target", base_url="http://target-host/v1")
    make_provider(name="Other", base_url="http://other/v1")
    for term in (target.public_id, "Target", "target-host"):
        response = admin_client.get(url(Provider, "changelist"), {"q": term})
        assert list(response.context["cl"].result_list) == [target]


def test_model_search_and_filters(admin_client):
    provider = make_provider()
    wanted = ProviderModel.objects.create(provider=provider, model_id="qwen3-4b")
    response = admin_client.get(url(ProviderModel, "changelist"), {"q": "qwen3"})
    assert list(response.context["cl"].result_list) == [wanted]
    response = admin_client.get(
        url(ProviderModel, "changelist"),
        {"active__exact": "1", "provider__id__exact": provider.pk},
    )
    assert set(response.context["cl"].result_list) == set(provider.models.all())


# The write-only API key and saves through services.


def test_add_creates_through_the_service_with_an_encrypted_key(
    admin_client, invalidations
):
    response = admin_client.post(
        url(Provider, "add"), form_data(api_key=KEY), follow=True
    )
    assert response.status_code == 200
    provider = Provider.objects.get()
    # The single-label host passes: the service validates, not URLValidator.
    assert provider.base_url == "http://jan-inference-model:8101/v1"
    assert provider_api_key(provider) == KEY
    assert provider.api_key_hint == "…5678"
    assert invalidations == [1]
    stored = [*Provider.objects.values().get().values(), *LogEntry.objects.values()]
    assert not any(KEY in str(value) for value in stored)
    change = admin_client.get(url(Provider, "change", provider.pk)).text
    assert KEY not in change
    assert 'type="password"' in change
    assert "…5678" in change


def test_add_page_offers_a_password_field(admin_client):
    response = admin_client.get(url(Provider, "add"))
    form = response.context["adminform"].form
    assert form.fields["api_key"].widget.input_type == "password"
    assert 'name="remove_api_key"' not in response.text  # nothing to remove yet


def test_change_keeps_an_empty_key_and_replaces_or_removes_it(admin_client):
    provider = make_provider()
    change = url(Provider, "change", provider.pk)
    data = form_data(name="Renamed", **{"models-INITIAL_FORMS": "0"})
    assert admin_client.post(change, data).status_code == 302
    provider.refresh_from_db()
    assert (provider.name, provider_api_key(provider)) == ("Renamed", KEY)
    admin_client.post(change, data | {"api_key": "sk-replaced-0000"})
    provider.refresh_from_db()
    assert provider_api_key(provider) == "sk-replaced-0000"
    admin_client.post(change, data | {"remove_api_key": "on"})
    provider.refresh_from_db()
    assert (provider.api_key_encrypted, provider.api_key_hint) == ("", "")


def test_the_key_is_never_rendered_back_after_an_invalid_post(admin_client):
    response = admin_client.post(
        url(Provider, "add"), form_data(api_key=KEY, base_url="ftp://x/v1")
    )
    assert response.status_code == 200
    assert KEY not in response.text
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"base_url": "file:///etc/passwd"}, "base_url"),
        ({"base_url": "http://user:pw@h/v1"}, "base_url"),
        ({"name": "Taken"}, "name"),
        ({"weight": "0"}, "weight"),
        ({"api_key": "two words"}, "api_key"),
    ],
)
def test_add_shows_service_errors_on_their_fields(admin_client, overrides, field):
    make_provider(name="taken")
    response = admin_client.post(url(Provider, "add"), form_data(**overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Provider.objects.count() == 1


def test_a_project_implies_its_organization(admin_client):
    project = ProjectFactory()
    response = admin_client.post(url(Provider, "add"), form_data(project=project.pk))
    assert response.status_code == 302
    provider = Provider.objects.get()
    assert (provider.organization, provider.project) == (project.organization, project)


def test_a_project_of_another_organization_is_a_form_error(admin_client):
    project = ProjectFactory()
    other = ProjectFactory()
    response = admin_client.post(
        url(Provider, "add"),
        form_data(organization=other.organization.pk, project=project.pk),
    )
    assert "project" in response.context["adminform"].form.errors
    assert not Provider.objects.exists()


def test_production_without_a_secret_shows_a_key_error(admin_client, settings):
    settings.MODEL_PROVIDER_SECRET = ""
    response = admin_client.post(url(Provider, "add"), form_data(api_key=KEY))
    assert response.context["adminform"].form.errors["api_key"] == [
        "This server cannot store provider API keys: MODEL_PROVIDER_SECRET is not set."
    ]


def test_delete_goes_through_the_service(admin_client, invalidations):
    provider = make_provider()
    response = admin_client.post(url(Provider, "delete", provider.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Provider.objects.exists()
    assert invalidations == [1, 1]


def test_bulk_delete_goes_through_the_service(admin_client, invalidations):
    providers = [make_provider(name="A"), make_provider(name="B")]
    data = {
        "action": "delete_selected",
        "_selected_action": [p.pk for p in providers],
        "post": "yes",
    }
    admin_client.post(url(Provider, "changelist"), data)
    assert not Provider.objects.exists()
    assert invalidations == [1, 1, 1, 1]


# Actions.


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_sync_action_reports_each_provider(admin_client, upstream, down_url):
    up = make_provider(name="Up", base_url=upstream.base_url)
    down = make_provider(name="Down", base_url=down_url)
    data = {"action": "sync_models", "_selected_action": [up.pk, down.pk]}
    response = admin_client.post(url(Provider, "changelist"), data, follow=True)
    assert messages_of(response) == [
        f"{up}: 2 added, 0 updated, 1 deactivated.",
        f"{down}: not synced: The model server is unreachable.",
    ]
    assert set(up.models.filter(active=True).values_list("model_id", flat=True)) == {
        "a",
        "b",
    }


def test_check_action_reports_health(admin_client, upstream, down_url):
    up = make_provider(name="Up", base_url=upstream.base_url)
    down = make_provider(name="Down", base_url=down_url)
    data = {"action": "check_health", "_selected_action": [up.pk, down.pk]}
    response = admin_client.post(url(Provider, "changelist"), data, follow=True)
    assert messages_of(response) == [f"{up}: ok.", f"{down}: unreachable."]


@pytest.mark.parametrize(
    ("model", "make"),
    [
        (Provider, lambda: make_provider(name=f"P{Provider.objects.count()}")),
        (
            ProviderModel,
            lambda: make_provider(name=f"P{Provider.objects.count()}").models.get(),
        ),
        (UsageRecord, make_usage),
    ],
    ids=["provider", "model", "usage"],
)
def test_list_queries_do_not_grow_with_rows(admin_client, model, make):
    make()
    admin_client.get(url(model, "changelist"))  # warm caches
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url(model, "changelist"))
    make()
    make()
    with CaptureQueriesContext(connection) as three_rows:
        admin_client.get(url(model, "changelist"))
    assert len(three_rows) == len(one_row)


def test_change_page_queries_do_not_grow_with_models(admin_client):
    provider = make_provider()
    change = url(Provider, "change", provider.pk)
    admin_client.get(change)
    with CaptureQueriesContext(connection) as one_model:
        admin_client.get(change)
    for model_id in ("x", "y", "z"):
        ProviderModel.objects.create(provider=provider, model_id=model_id)
    with CaptureQueriesContext(connection) as four_models:
        admin_client.get(change)
    assert len(four_models) == len(one_model)
