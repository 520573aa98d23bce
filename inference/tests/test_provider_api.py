"""Model provider API: organization and project providers, and the usable providers."""

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from inference.models import Provider, ProviderModel
from inference.services import provider_create
from inference.testing.fake_vllm import refusing_url, run_in_thread
from janserver import auth_cache
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory
from orgs.tests.test_api_base import Api, admin_key_api, error, member, user_api

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("inference.tests.provider_test_urls"),
]

KEY = "sk-upstream-secret-9876"
UNREACHABLE = "The model server is unreachable."
PROVIDERS = "/models/providers"


@pytest.fixture(autouse=True)
def _clean(settings):
    settings.MODEL_PROVIDER_SECRET = "provider-secret-" + "s" * 48
    auth_cache.reset_for_tests()
    yield
    auth_cache.reset_for_tests()


@pytest.fixture(scope="module")
def upstream():
    with run_in_thread(models=("b", "a")) as server:
        yield server


@pytest.fixture
def down_url():
    with refusing_url() as url:
        yield url


@pytest.fixture
def owner(organization):
    return member(organization, "owner")


@pytest.fixture
def api(owner, organization):
    return user_api(owner, organization)


def model(model_id, active=True, context_length=32768):
    return {
        "id": model_id,
        "object": "model",
        "active": active,
        "context_length": context_length,
    }


def provider_body(provider, models=()):
    provider.refresh_from_db()
    return {
        "id": provider.public_id,
        "object": "model.provider",
        "name": provider.name,
        "vendor": provider.vendor,
        "base_url": provider.base_url,
        "scope": provider.scope,
        "organization_id": provider.organization.public_id
        if provider.organization
        else None,
        "project_id": provider.project.public_id if provider.project else None,
        "active": provider.active,
        "weight": provider.weight,
        "api_key_hint": provider.api_key_hint or None,
        "created_at": int(provider.created_at.timestamp()),
        "models": list(models),
    }


def not_found(public_id, kind="provider", param="provider_id"):
    return error(
        "invalid_request_error", "not_found", f"No {kind} with id {public_id!r}.", param
    )


# Register, read, update, delete.


def test_an_owner_registers_a_provider_and_its_models_are_synced(
    api, organization, upstream
):
    response = api.post(
        PROVIDERS,
        {"name": "GPU box", "base_url": upstream.base_url + "/", "api_key": KEY},
    )
    assert response.status_code == 200
    provider = Provider.objects.get()
    assert (provider.organization, provider.project) == (organization, None)
    assert response.json() == provider_body(provider, [model("a"), model("b")]) | {
        "sync_error": None
    }
    assert response.json()["api_key_hint"] == "…9876"
    assert response.json()["base_url"] == upstream.base_url
    assert api.get(f"{PROVIDERS}/{provider.public_id}").json() == provider_body(
        provider, [model("a"), model("b")]
    )


def test_the_api_key_never_appears_in_a_response(api, upstream, project):
    """Create, list, get, update and the usable list show at most the hint."""
    created = api.post(
        PROVIDERS, {"name": "P", "base_url": upstream.base_url, "api_key": KEY}
    )
    path = f"{PROVIDERS}/{created.json()['id']}"
    responses = [
        created,
        api.get(PROVIDERS),
        api.get(path),
        api.post(path, {"api_key": KEY + "2"}),
        api.post(path + "/sync"),
    ]
    assert all(r.status_code == 200 for r in responses)
    assert not any(KEY[3:-4] in r.content.decode() for r in responses)
    assert not any("api_key_encrypted" in r.content.decode() for r in responses)


def test_registering_an_unreachable_provider_keeps_it_without_models(api, down_url):
    response = api.post(PROVIDERS, {"name": "Later", "base_url": down_url})
    assert response.status_code == 200
    provider = Provider.objects.get()
    assert response.json() == provider_body(provider) | {"sync_error": UNREACHABLE}


def test_defaults_and_explicit_fields(api, down_url):
    body = {"name": "P", "base_url": down_url, "vendor": "llama.cpp", "weight": 7}
    created = api.post(PROVIDERS, body | {"active": False}).json()
    assert (created["vendor"], created["weight"], created["active"]) == (
        "llama.cpp",
        7,
        False,
    )
    assert created["api_key_hint"] is None


def test_update_and_resync_after_a_url_change(api, upstream, down_url):
    created = api.post(PROVIDERS, {"name": "P", "base_url": down_url}).json()
    path = f"{PROVIDERS}/{created['id']}"
    renamed = api.post(path, {"name": "Renamed", "weight": 3})
    provider = Provider.objects.get()
    assert renamed.json() == provider_body(provider) | {"sync_error": None}
    assert (provider.name, provider.weight) == ("Renamed", 3)
    moved = api.post(path, {"base_url": upstream.base_url, "api_key": KEY})
    assert moved.json() == provider_body(provider, [model("a"), model("b")]) | {
        "sync_error": None
    }
    cleared = api.post(path, {"api_key": None})
    assert cleared.json()["api_key_hint"] is None
    assert Provider.objects.get().api_key_encrypted == ""


@pytest.mark.parametrize("scope", ["organization", "project"])
def test_patch_updates_a_provider_like_post(api, organization, upstream, scope):
    """Jan's clients update providers with PATCH: the same partial update as POST."""
    project = ProjectFactory(organization=organization) if scope == "project" else None
    base = f"/projects/{project.public_id}" if project else ""
    created = api.post(
        f"{base}{PROVIDERS}", {"name": "P", "base_url": upstream.base_url}
    )
    path = f"{base}{PROVIDERS}/{created.json()['id']}"
    patched = api.patch(path, {"name": "Patched", "weight": 4, "active": False})
    assert patched.status_code == 200
    provider = Provider.objects.get()
    assert patched.json() == provider_body(provider, [model("a"), model("b")]) | {
        "sync_error": None
    }
    assert (provider.name, provider.weight, provider.active) == ("Patched", 4, False)
    assert provider.base_url == upstream.base_url  # untouched: not in the body
    bad = api.patch(path, {"weight": 0})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "weight"
    unknown = api.patch(f"{base}{PROVIDERS}/prov_unknown", {"name": "X"})
    assert unknown.status_code == 404
    assert unknown.json() == not_found("prov_unknown")


def test_sync_route_refreshes_the_models(api, organization, upstream, down_url):
    provider = provider_create(
        name="P", base_url=upstream.base_url, organization=organization
    )
    response = api.post(f"{PROVIDERS}/{provider.public_id}/sync")
    assert response.json() == provider_body(provider, [model("a"), model("b")])
    Provider.objects.filter(pk=provider.pk).update(base_url=down_url)
    failed = api.post(f"{PROVIDERS}/{provider.public_id}/sync")
    assert failed.status_code == 503
    assert failed.json() == error("server_error", "service_unavailable", UNREACHABLE)


def test_delete_a_provider(api, organization, down_url):
    provider = provider_create(name="P", base_url=down_url, organization=organization)
    ProviderModel.objects.create(provider=provider, model_id="m")
    path = f"{PROVIDERS}/{provider.public_id}"
    response = api.delete(path)
    assert response.json() == {
        "object": "model.provider.deleted",
        "id": provider.public_id,
        "deleted": True,
    }
    assert not Provider.objects.exists()
    assert api.get(path).json() == not_found(provider.public_id)


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"base_url": "http://h/v1"},
            400,
            error(
                "invalid_request_error",
                "missing_required_parameter",
                "This field is required.",
                "name",
            ),
        ),
        (
            {"name": "P", "base_url": "http://h/v1", "weight": 0},
            400,
            error(
                "invalid_request_error",
                "invalid_value",
                "Ensure this value is greater than or equal to 1.",
                "weight",
            ),
        ),
        (
            {"name": "P", "base_url": "http://h/v1", "vendor": "ollama"},
            400,
            error(
                "invalid_request_error",
                "invalid_value",
                '"ollama" is not a valid choice.',
                "vendor",
            ),
        ),
        (
            {"name": "P", "base_url": "http://h/v1", "api_key": "two words"},
            400,
            error(
                "invalid_request_error",
                "invalid_value",
                "The API key must be at most 4096 printable ASCII characters "
                "without spaces.",
                "api_key",
            ),
        ),
        (
            {"name": "Taken", "base_url": "http://h/v1"},
            409,
            error(
                "invalid_request_error",
                "conflict",
                "A provider named 'Taken' already exists in this scope.",
                "name",
            ),
        ),
    ],
)
def test_invalid_bodies_are_refused(api, organization, body, status, expected):
    provider_create(name="taken", base_url="http://h/v1", organization=organization)
    response = api.post(PROVIDERS, body)
    assert (response.status_code, response.json()) == (status, expected)
    assert Provider.objects.count() == 1


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("file:///etc/passwd", "must start with http:// or https://"),
        ("ftp://example.com/v1", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("http://", "must name a host"),
        (
            "http://user:pw@example.com/v1",
            "must not contain credentials; set the API key instead",
        ),
        ("http://example.com/v1?x=1", "must not have a query or a fragment"),
        ("http://example.com/v1#x", "must not have a query or a fragment"),
    ],
)
def test_base_urls_other_than_plain_http_and_https_are_refused(api, base_url, reason):
    response = api.post(PROVIDERS, {"name": "P", "base_url": base_url})
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error", "invalid_value", f"The base URL {reason}.", "base_url"
    )
    assert not Provider.objects.exists()


# Who may call.


def test_readers_read_but_do_not_write(organization, down_url):
    provider = provider_create(name="P", base_url=down_url, organization=organization)
    reader = user_api(member(organization, "reader"), organization)
    assert reader.get(PROVIDERS).json()["data"] == [provider_body(provider)]
    assert reader.get(f"{PROVIDERS}/{provider.public_id}").status_code == 200
    forbidden = error(
        "permission_error",
        "insufficient_permissions",
        "Only organization owners may change this; your role is 'reader'.",
    )
    path = f"{PROVIDERS}/{provider.public_id}"
    for response in (
        reader.post(PROVIDERS, {"name": "Q", "base_url": down_url}),
        reader.post(path, {"name": "Q"}),
        reader.post(path + "/sync"),
        reader.delete(path),
    ):
        assert (response.status_code, response.json()) == (403, forbidden)
    assert Provider.objects.get().name == "P"


def test_an_admin_key_manages_its_organizations_providers(organization, down_url):
    api = admin_key_api(organization)
    response = api.post(PROVIDERS, {"name": "Keyed", "base_url": down_url})
    assert response.status_code == 200
    assert Provider.objects.get().organization == organization


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", PROVIDERS),
        ("post", PROVIDERS),
        ("get", PROVIDERS + "/prov_x"),
        ("post", PROVIDERS + "/prov_x"),
        ("delete", PROVIDERS + "/prov_x"),
        ("post", PROVIDERS + "/prov_x/sync"),
        ("get", "/projects/{p}" + PROVIDERS),
        ("post", "/projects/{p}" + PROVIDERS + "/prov_x"),
    ],
)
def test_project_keys_cannot_manage_providers(project_key, method, path):
    api_key, secret = project_key
    response = getattr(Api(secret), method)(path.format(p=api_key.project.public_id))
    assert response.status_code == 403
    assert response.json() == error(
        "permission_error",
        "insufficient_permissions",
        "Project API keys cannot use organization admin routes.",
    )


def test_routes_need_a_credential(client):
    for path in ("/v1/organization/models/providers", "/v1/models/providers"):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_providers_of_other_scopes_are_not_found(api, organization, down_url):
    """Another organization's, a project's, or the shared provider: 404 like unknown."""
    project = ProjectFactory(organization=organization)
    others = [
        provider_create(name="Theirs", base_url=down_url, project=ProjectFactory()),
        provider_create(name="Project", base_url=down_url, project=project),
        provider_create(name="Shared", base_url=down_url),
    ]
    for other in others:
        path = f"{PROVIDERS}/{other.public_id}"
        for response in (
            api.get(path),
            api.post(path, {"name": "Mine"}),
            api.delete(path),
            api.post(path + "/sync"),
        ):
            assert (response.status_code, response.json()) == (
                404,
                not_found(other.public_id),
            )
    assert api.get(PROVIDERS).json()["data"] == []
    assert Provider.objects.count() == 3
    assert set(Provider.objects.values_list("name", flat=True)) == {
        "Theirs",
        "Project",
        "Shared",
    }


# Project providers.


def test_project_providers_live_in_their_project(api, organization, upstream):
    project = ProjectFactory(organization=organization)
    base = f"/projects/{project.public_id}{PROVIDERS}"
    response = api.post(base, {"name": "Proj", "base_url": upstream.base_url})
    provider = Provider.objects.get()
    assert (provider.organization, provider.project) == (organization, project)
    models = [model("a"), model("b")]
    assert response.json() == provider_body(provider, models) | {"sync_error": None}
    assert response.json()["scope"] == "project"
    assert api.get(base).json()["data"] == [provider_body(provider, models)]
    assert api.get(PROVIDERS).json()["data"] == []  # not an organization provider
    other = ProjectFactory(organization=organization)
    other_path = f"/projects/{other.public_id}{PROVIDERS}/{provider.public_id}"
    assert api.get(other_path).json() == not_found(provider.public_id)
    assert api.get(f"{base}/{provider.public_id}").json() == provider_body(
        provider, models
    )
    assert api.delete(f"{base}/{provider.public_id}").json()["deleted"] is True


def test_a_project_of_another_organization_is_not_found(api, down_url):
    foreign = ProjectFactory()
    response = api.post(
        f"/projects/{foreign.public_id}{PROVIDERS}", {"name": "X", "base_url": down_url}
    )
    assert (response.status_code, response.json()) == (
        404,
        not_found(foreign.public_id, "project", "project_id"),
    )
    assert not Provider.objects.exists()


# Lists.


def test_the_list_is_paginated_and_its_queries_do_not_grow(
    api, organization, down_url, django_assert_num_queries
):
    providers = []
    for index in range(3):
        provider = provider_create(
            name=f"P{index}", base_url=down_url, organization=organization
        )
        ProviderModel.objects.create(provider=provider, model_id=f"m{index}")
        ProviderModel.objects.create(provider=provider, model_id=f"n{index}")
        providers.append(provider)
    api.get(PROVIDERS)  # warm the credential cache
    # The membership, one page of providers, and their models.
    with django_assert_num_queries(3):
        page = api.get(PROVIDERS, {"limit": 2}).json()
    assert [p["id"] for p in page["data"]] == [p.public_id for p in providers[:2]]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (
        True,
        providers[0].public_id,
        providers[1].public_id,
    )
    assert [m["id"] for m in page["data"][0]["models"]] == ["m0", "n0"]
    with django_assert_num_queries(4):  # plus the cursor
        rest = api.get(PROVIDERS, {"after": page["last_id"]}).json()
    assert [p["id"] for p in rest["data"]] == [providers[2].public_id]
    assert rest["has_more"] is False


# The usable providers.


def usable_body(provider, models):
    return {
        "id": provider.public_id,
        "object": "model.provider",
        "name": provider.name,
        "vendor": provider.vendor,
        "scope": provider.scope,
        "models": [model(m, context_length=None) for m in models],
    }


@pytest.fixture
def landscape(project, down_url):
    """Providers in every scope, seen from `project`."""
    organization = project.organization

    def make(name, models=("m",), active=True, **scope):
        provider = provider_create(name=name, base_url=down_url, active=active, **scope)
        for model_id in models:
            ProviderModel.objects.create(provider=provider, model_id=model_id)
        return provider

    shared = make("Shared", models=("s", "hidden"))
    ProviderModel.objects.filter(model_id="hidden").update(active=False)
    mine = make("Org", organization=organization)
    own = make("Project", project=project)
    make("Off", active=False)
    make("Sibling", project=ProjectFactory(organization=organization))
    make("Elsewhere", organization=ProjectFactory().organization)
    return {"shared": shared, "org": mine, "project": own}


def test_a_project_key_sees_the_providers_it_can_use(
    project_key, landscape, client, django_assert_num_queries
):
    """Shared, its organization's and its project's; active ones, no URL or key."""
    _, secret = project_key
    headers = {"Authorization": f"Bearer {secret}"}
    client.get("/v1/models/providers", headers=headers)  # warm the key cache
    with django_assert_num_queries(2):  # providers and their active models
        response = client.get("/v1/models/providers", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            usable_body(landscape["shared"], ["s"]),
            usable_body(landscape["org"], ["m"]),
            usable_body(landscape["project"], ["m"]),
        ],
        "first_id": landscape["shared"].public_id,
        "last_id": landscape["project"].public_id,
        "has_more": False,
    }


def test_a_user_sees_the_providers_of_their_organizations_and_projects(
    landscape, project
):
    """As the catalog routes them: shared, their organizations' and projects'."""
    user = member(project.organization)
    ProjectMemberFactory(project=project, user=user)
    response = Client().get("/v1/models/providers", headers=user_api(user).headers)
    assert response.status_code == 200
    names = [p["name"] for p in response.json()["data"]]
    assert names == ["Shared", "Org", "Project"]


def test_a_stranger_sees_only_shared_providers(landscape):
    api = user_api(UserFactory())
    response = Client().get("/v1/models/providers", headers=api.headers)
    assert [p["name"] for p in response.json()["data"]] == ["Shared"]


def test_admin_keys_cannot_list_usable_providers(admin_key, client):
    _, secret = admin_key
    response = client.get(
        "/v1/models/providers", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 403
    assert response.json() == error(
        "permission_error",
        "insufficient_permissions",
        "Admin API keys can only use organization admin routes.",
    )
