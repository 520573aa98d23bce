"""GET /v1/organization/usage/completions and /v1/organization/costs: OpenAI's pages
of buckets, answered from the rollups, and every bad query refused."""

from datetime import UTC, datetime, timedelta

import openai
import pytest

from inference import usage as ledger
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationFactory,
    ProjectFactory,
    ProjectMemberFactory,
)
from orgs.tests.test_api_base import (  # noqa: F401 (wsgi_client: a fixture)
    admin_key_api,
    error,
    member,
    not_found,
    user_api,
    wsgi_client,
)
from usage.tests.factories import ModelPriceFactory, record_usage

pytestmark = pytest.mark.django_db

DAY1 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = int(DAY1.timestamp())
D = 86400


@pytest.fixture(autouse=True)
def fresh_queue():
    ledger.reset_for_tests()
    yield
    ledger.reset_for_tests()


class Tenancy:
    """An organization with two projects, a key in each, and usage on two days."""

    def __init__(self, organization):
        self.organization = organization
        self.owner = member(organization, "owner")
        self.keys = []
        for _ in range(2):
            project = ProjectFactory(organization=organization)
            ProjectMemberFactory(project=project, user=self.owner)
            key, _ = api_key_create(
                kind="project",
                organization=organization,
                project=project,
                owner=self.owner,
            )
            self.keys.append(key)

    def use(self, key_index, at, model="m1", prompt=100, completion=10):
        key = self.keys[key_index]
        record_usage(
            at=at,
            organization_id=key.organization_id,
            project_id=key.project_id,
            api_key_id=key.pk,
            user_id=key.owner_id,
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )


@pytest.fixture
def tenancy(organization):
    tenancy = Tenancy(organization)
    ModelPriceFactory(model="m1", input_per_million="2", output_per_million="10")
    tenancy.use(0, DAY1 + timedelta(hours=1))
    tenancy.use(0, DAY1 + timedelta(hours=2), model="m2", prompt=50, completion=5)
    tenancy.use(1, DAY1 + timedelta(days=1, hours=3), prompt=1000, completion=100)
    # Another organization's usage never shows.
    other = Tenancy(OrganizationFactory())
    other.use(0, DAY1 + timedelta(hours=1), prompt=7777)
    ledger.flush()
    return tenancy


def completions_result(**fields):
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": 0,
        "output_tokens": 0,
        "input_cached_tokens": 0,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": 0,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": None,
        "batch": None,
        "service_tier": None,
        "api_source": None,
    }
    return {**result, **fields}


def bucket(start, results, width=D):
    return {
        "object": "bucket",
        "start_time": start,
        "end_time": start + width,
        "results": results,
    }


def test_daily_usage_of_the_organization(tenancy):
    """Three daily buckets, the empty one included; other organizations not counted."""
    api = admin_key_api(tenancy.organization, tenancy.owner)
    response = api.get("/usage/completions", {"start_time": T1, "end_time": T1 + 3 * D})
    assert response.status_code == 200
    assert response.json() == {
        "object": "page",
        "data": [
            bucket(
                T1,
                [
                    completions_result(
                        input_tokens=150, output_tokens=15, num_model_requests=2
                    )
                ],
            ),
            bucket(
                T1 + D,
                [
                    completions_result(
                        input_tokens=1000, output_tokens=100, num_model_requests=1
                    )
                ],
            ),
            bucket(T1 + 2 * D, []),
        ],
        "has_more": False,
        "next_page": None,
    }


def test_grouped_by_project_and_model_and_filtered(tenancy):
    api = admin_key_api(tenancy.organization, tenancy.owner)
    first = tenancy.keys[0]
    body = api.get(
        "/usage/completions",
        {
            "start_time": T1,
            "end_time": T1 + D,
            "group_by": ["project_id", "model"],
            "project_ids": [first.project.public_id],
        },
    ).json()
    assert body["data"][0]["results"] == [
        completions_result(
            input_tokens=100,
            output_tokens=10,
            num_model_requests=1,
            project_id=first.project.public_id,
            model="m1",
        ),
        completions_result(
            input_tokens=50,
            output_tokens=5,
            num_model_requests=1,
            project_id=first.project.public_id,
            model="m2",
        ),
    ]


def test_hourly_buckets_group_by_key_user_and_constant_dimensions(tenancy):
    api = admin_key_api(tenancy.organization, tenancy.owner)
    key = tenancy.keys[0]
    body = api.get(
        "/usage/completions",
        {
            "start_time": T1 + 3600,
            "end_time": T1 + 3 * 3600,
            "bucket_width": "1h",
            "group_by[]": ["api_key_id", "user_id", "batch", "service_tier"],
            "models[]": ["m1"],
        },
    ).json()
    assert body["data"] == [
        bucket(
            T1 + 3600,
            [
                completions_result(
                    input_tokens=100,
                    output_tokens=10,
                    num_model_requests=1,
                    api_key_id=key.public_id,
                    user_id=tenancy.owner.public_id,
                    batch=False,
                    service_tier="default",
                )
            ],
            width=3600,
        ),
        bucket(T1 + 2 * 3600, [], width=3600),
    ]


def test_batch_true_is_empty(tenancy):
    api = admin_key_api(tenancy.organization, tenancy.owner)
    body = api.get(
        "/usage/completions", {"start_time": T1, "end_time": T1 + D, "batch": "true"}
    ).json()
    assert body["data"] == [bucket(T1, [])]


def test_pages_follow_each_other_until_the_end(tenancy):
    """limit=2 over five days: pages of 2, 2 and 1 bucket; the last has no next page."""
    api = admin_key_api(tenancy.organization, tenancy.owner)
    query = {"start_time": T1, "end_time": T1 + 5 * D, "limit": 2}
    starts = []
    page = None
    for _ in range(4):
        body = api.get(
            "/usage/completions", {**query, **({"page": page} if page else {})}
        ).json()
        starts.append([b["start_time"] for b in body["data"]])
        page = body["next_page"]
        assert body["has_more"] is (page is not None)
        if page is None:
            break
    assert starts == [[T1, T1 + D], [T1 + 2 * D, T1 + 3 * D], [T1 + 4 * D]]


def test_a_page_token_from_another_query_is_refused(tenancy):
    api = admin_key_api(tenancy.organization, tenancy.owner)
    query = {"start_time": T1, "end_time": T1 + 5 * D, "limit": 2}
    token = api.get("/usage/completions", query).json()["next_page"]
    for changed in (
        {**query, "group_by": "model"},
        {**query, "start_time": T1 + D},
    ):
        response = api.get("/usage/completions", {**changed, "page": token})
        assert response.status_code == 400
        assert response.json() == error(
            "invalid_request_error",
            "invalid_value",
            "The page token belongs to another query; send the same parameters as "
            "the call that returned it.",
            "page",
        )
    costs = api.get("/costs", {**query, "page": token})
    assert costs.status_code == 400
    forged = api.get("/usage/completions", {**query, "page": "eyJ4Ijo1fQ:abc:def"})
    assert forged.json() == error(
        "invalid_request_error", "invalid_value", "The page token is not valid.", "page"
    )


BAD_QUERIES = [
    (
        {"start_time": T1, "end_time": T1 - 1},
        "end_time",
        "end_time must be after start_time.",
    ),
    (
        {"start_time": T1, "end_time": T1},
        "end_time",
        "end_time must be after start_time.",
    ),
    (
        {"start_time": T1, "group_by": "organization"},
        "group_by",
        "Cannot group by 'organization'; use any of project_id, user_id, api_key_id, "
        "model, batch, service_tier, api_source.",
    ),
    (
        {"start_time": T1, "bucket_width": "1w"},
        "bucket_width",
        "bucket_width must be one of 1m, 1h, 1d; got '1w'.",
    ),
    (
        {"start_time": T1, "limit": 32},
        "limit",
        "limit must be at most 31 for bucket_width 1d.",
    ),
    (
        {"start_time": T1, "limit": 0},
        "limit",
        "Ensure this value is greater than or equal to 1.",
    ),
    ({"start_time": "yesterday"}, "start_time", "A valid integer is required."),
    (
        {"start_time": -5},
        "start_time",
        "Ensure this value is greater than or equal to 0.",
    ),
]


@pytest.mark.parametrize(("query", "param", "message"), BAD_QUERIES)
def test_bad_queries_are_400_naming_the_parameter(organization, query, param, message):
    response = admin_key_api(organization).get("/usage/completions", query)
    assert response.status_code == 400
    assert response.json() == error(
        "invalid_request_error", "invalid_value", message, param
    )


def test_start_time_is_required(organization):
    response = admin_key_api(organization).get("/usage/completions")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "start_time"
    assert response.json()["error"]["code"] == "missing_required_parameter"


@pytest.mark.parametrize("param", ["project_ids", "api_key_ids", "user_ids"])
def test_another_organizations_ids_are_404(tenancy, param):
    other = Tenancy(OrganizationFactory())
    foreign = {
        "project_ids": other.keys[0].project.public_id,
        "api_key_ids": other.keys[0].public_id,
        "user_ids": other.owner.public_id,
    }[param]
    api = admin_key_api(tenancy.organization, tenancy.owner)
    response = api.get("/usage/completions", {"start_time": T1, param: foreign})
    assert response.status_code == 404
    kind = {"project_ids": "project", "api_key_ids": "API key", "user_ids": "user"}
    assert response.json() == not_found(kind[param], foreign, param)


def test_readers_read_and_members_and_project_keys_do_not(tenancy):
    query = {"start_time": T1, "end_time": T1 + D}
    reader = user_api(member(tenancy.organization, "reader"), tenancy.organization)
    assert reader.get("/usage/completions", query).status_code == 200
    plain = user_api(member(tenancy.organization, "member"), tenancy.organization)
    assert plain.get("/costs", query).status_code == 403


def test_costs_per_day_and_per_line_item(tenancy):
    """m1 costs $2/M in and $10/M out; m2 has no price (free)."""
    api = admin_key_api(tenancy.organization, tenancy.owner)
    body = api.get("/costs", {"start_time": T1, "end_time": T1 + 2 * D}).json()
    amounts = [[r["amount"] for r in b["results"]] for b in body["data"]]
    assert amounts == [
        [{"value": 0.0003, "currency": "usd"}],
        [{"value": 0.003, "currency": "usd"}],
    ]
    grouped = api.get(
        "/costs",
        {
            "start_time": T1,
            "end_time": T1 + D,
            "group_by": ["line_item", "project_id"],
        },
    ).json()
    project = tenancy.keys[0].project.public_id

    def item(name, value, quantity):
        return {
            "object": "organization.costs.result",
            "amount": {"value": value, "currency": "usd"},
            "project_id": project,
            "user_id": None,
            "api_key_id": None,
            "line_item": name,
            "api_source": None,
            "quantity": quantity,
            "quantity_unit": "tokens",
        }

    assert grouped["data"][0]["results"] == [
        item("m1, input", 0.0002, 100),
        item("m1, output", 0.0001, 10),
        item("m2, input", 0.0, 50),
        item("m2, output", 0.0, 5),
    ]
    only = api.get(
        "/costs",
        {"start_time": T1, "end_time": T1 + D, "line_items": ["m1, output"]},
    ).json()
    assert only["data"][0]["results"][0]["amount"]["value"] == 0.0001


def test_costs_refuse_other_widths_and_bad_line_items(organization):
    api = admin_key_api(organization)
    hourly = api.get("/costs", {"start_time": T1, "bucket_width": "1h"})
    assert hourly.json()["error"]["message"] == (
        "bucket_width must be one of 1d; got '1h'."
    )
    bad = api.get("/costs", {"start_time": T1, "line_items": "m1"})
    assert bad.json()["error"]["param"] == "line_items"


def test_a_report_is_a_fixed_number_of_queries(tenancy, django_assert_max_num_queries):
    """Authentication, one aggregate and one query per grouped id kind: no N+1."""
    api = admin_key_api(tenancy.organization, tenancy.owner)
    api.get("/usage/completions", {"start_time": T1})  # warms the credential cache
    with django_assert_max_num_queries(5):
        response = api.get(
            "/usage/completions",
            {
                "start_time": T1,
                "end_time": T1 + 31 * D,
                "limit": 31,
                "group_by": ["project_id", "api_key_id"],
            },
        )
    assert response.status_code == 200


def test_the_openai_sdk_reads_usage_and_costs(tenancy, wsgi_client):  # noqa: F811
    """The official SDK's admin client: usage.completions and usage.costs."""
    _, secret = api_key_create(
        kind="admin", organization=tenancy.organization, owner=tenancy.owner
    )
    sdk = openai.OpenAI(
        api_key="unused",
        admin_api_key=secret,
        base_url="http://testserver/v1",
        http_client=wsgi_client,
        max_retries=0,
    )
    usage_api = sdk.admin.organization.usage
    page = usage_api.completions(
        start_time=T1, end_time=T1 + 2 * D, group_by=["project_id"], limit=1
    )
    assert page.has_more is True
    result = page.data[0].results[0]
    assert (result.input_tokens, result.num_model_requests, result.project_id) == (
        150,
        2,
        tenancy.keys[0].project.public_id,
    )
    following = usage_api.completions(
        start_time=T1,
        end_time=T1 + 2 * D,
        group_by=["project_id"],
        limit=1,
        page=page.next_page,
    )
    assert following.data[0].start_time == T1 + D
    assert following.has_more is False
    costs = usage_api.costs(start_time=T1, end_time=T1 + 2 * D)
    assert [b.results[0].amount.value for b in costs.data] == [0.0003, 0.003]
    with pytest.raises(openai.BadRequestError):
        usage_api.completions(start_time=T1, end_time=T1 - D)
