"""OpenAI's project rate-limit routes: list one limit per model, update one."""

import pytest

from inference.testing.fixtures import make_provider
from limits.models import RateLimit
from limits.services import rate_limit_set
from orgs.tests.factories import OrganizationFactory, ProjectFactory
from orgs.tests.test_api_base import admin_key_api, member, user_api

pytestmark = pytest.mark.django_db

UNSET = {
    "max_requests_per_1_minute": None,
    "max_tokens_per_1_minute": None,
    "max_requests_per_1_day": None,
    "max_concurrent_requests": None,
}


@pytest.fixture
def models(organization, project):
    """Two shared models, one only the organization has, one of another project."""
    make_provider("http://127.0.0.1:9/v1", name="Shared", models=("b-model", "a-model"))
    make_provider(
        "http://127.0.0.1:9/v1",
        name="Org",
        models=("org-model",),
        organization=organization,
    )
    other = ProjectFactory(organization=organization)
    make_provider(
        "http://127.0.0.1:9/v1",
        name="Other",
        models=("secret-model",),
        organization=organization,
        project=other,
    )


@pytest.fixture
def api(organization):
    return admin_key_api(organization)


def path(project, rest: str = "") -> str:
    return f"/projects/{project.public_id}/rate_limits{rest}"


def test_the_list_has_one_limit_per_model_of_the_project(api, project, models):
    rate_limit_set(
        organization=project.organization,
        project=project,
        model="org-model",
        limits={"max_requests_per_1_minute": 60},
    )
    answer = api.get(path(project))
    assert answer.status_code == 200
    body = answer.json()
    assert [r["id"] for r in body["data"]] == [
        "rl-a-model",
        "rl-b-model",
        "rl-org-model",
    ]
    assert body["data"][2] == {
        "object": "project.rate_limit",
        "id": "rl-org-model",
        "model": "org-model",
        **UNSET,
        "max_requests_per_1_minute": 60,
    }
    assert body["data"][0] == {
        "object": "project.rate_limit",
        "id": "rl-a-model",
        "model": "a-model",
        **UNSET,
    }
    assert (body["first_id"], body["last_id"], body["has_more"]) == (
        "rl-a-model",
        "rl-org-model",
        False,
    )


def test_the_list_pages_with_after_and_before(api, project, models):
    first = api.get(path(project), {"limit": 2}).json()
    assert [r["id"] for r in first["data"]] == ["rl-a-model", "rl-b-model"]
    assert first["has_more"] is True
    rest = api.get(path(project), {"limit": 2, "after": "rl-b-model"}).json()
    assert [r["id"] for r in rest["data"]] == ["rl-org-model"]
    assert rest["has_more"] is False
    back = api.get(path(project), {"limit": 1, "before": "rl-org-model"}).json()
    assert [r["id"] for r in back["data"]] == ["rl-b-model"]
    bad = api.get(path(project), {"after": "rl-secret-model"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "after"


def test_an_update_sets_only_the_given_limits(api, project, models):
    answer = api.post(
        path(project, "/rl-a-model"),
        {"max_requests_per_1_minute": 10, "max_tokens_per_1_minute": 5000},
    )
    assert answer.status_code == 200
    assert answer.json() == {
        "object": "project.rate_limit",
        "id": "rl-a-model",
        "model": "a-model",
        **UNSET,
        "max_requests_per_1_minute": 10,
        "max_tokens_per_1_minute": 5000,
    }
    again = api.post(
        path(project, "/rl-a-model"),
        {"max_tokens_per_1_minute": None, "max_concurrent_requests": 0},
    ).json()
    assert again["max_requests_per_1_minute"] == 10
    assert again["max_tokens_per_1_minute"] is None
    assert again["max_concurrent_requests"] == 0
    row = RateLimit.objects.get()
    assert (row.project, row.api_key, row.model) == (project, None, "a-model")


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"max_requests_per_1_minute": -1}, "max_requests_per_1_minute", "between 0"),
        ({"max_requests_per_1_minute": 1.5}, "max_requests_per_1_minute", "whole"),
        ({"max_tokens_per_1_minute": "100"}, "max_tokens_per_1_minute", "whole"),
        ({"max_tokens_per_1_minute": True}, "max_tokens_per_1_minute", "whole"),
        ({"max_requests_per_1_day": 2**60}, "max_requests_per_1_day", "between 0"),
        ({"max_images_per_1_minute": 5}, "max_images_per_1_minute", "no images"),
        ({"max_request_per_minute": 5}, "max_request_per_minute", "Unknown"),
        ([1, 2], None, "JSON object"),
    ],
)
def test_bad_limits_are_refused_and_change_nothing(
    api, project, models, body, param, message
):
    answer = api.post(path(project, "/rl-a-model"), body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert message in error["message"]
    assert not RateLimit.objects.exists()


def test_a_whole_number_given_as_a_float_is_taken(api, project, models):
    answer = api.post(path(project, "/rl-a-model"), {"max_requests_per_1_day": 100.0})
    assert answer.json()["max_requests_per_1_day"] == 100


@pytest.mark.parametrize("rate_limit_id", ["rl-secret-model", "rl-nope", "a-model"])
def test_a_model_the_project_cannot_use_is_not_found(
    api, project, models, rate_limit_id
):
    answer = api.post(path(project, f"/{rate_limit_id}"), {"max_requests_per_1_day": 1})
    assert answer.status_code == 404
    assert answer.json()["error"]["param"] == "rate_limit_id"
    assert not RateLimit.objects.exists()


def test_another_organizations_project_is_not_found(api, models):
    foreign = ProjectFactory(organization=OrganizationFactory())
    assert api.get(path(foreign)).status_code == 404
    answer = api.post(path(foreign, "/rl-a-model"), {"max_requests_per_1_day": 1})
    assert answer.status_code == 404
    assert not RateLimit.objects.exists()


def test_readers_read_and_only_owners_write(organization, project, models):
    reader = user_api(member(organization, "reader"), organization)
    assert reader.get(path(project)).status_code == 200
    answer = reader.post(path(project, "/rl-a-model"), {"max_requests_per_1_day": 1})
    assert answer.status_code == 403
    assert not RateLimit.objects.exists()


def test_model_ids_with_slashes_are_routed(api, organization, project):
    make_provider(
        "http://127.0.0.1:9/v1",
        name="HF",
        models=("meta-llama/Llama-3.1-8B",),
        organization=organization,
    )
    answer = api.post(
        path(project, "/rl-meta-llama/Llama-3.1-8B"), {"max_requests_per_1_day": 7}
    )
    assert answer.status_code == 200
    assert answer.json()["model"] == "meta-llama/Llama-3.1-8B"
