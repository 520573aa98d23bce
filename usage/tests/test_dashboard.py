"""The admin's usage dashboard and the usage charts of project and key pages: numbers
read from the rollups, one organization at a time, for staff with the permission."""

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.tests.factories import UserFactory
from inference import provider_health, routing
from inference import usage as ledger
from inference.models import Provider
from inference.testing.fixtures import make_provider
from limits.models import Budget
from orgs.models import ApiKey
from orgs.services import api_key_create
from orgs.tests.factories import (
    OrganizationFactory,
    ProjectFactory,
    ProjectMemberFactory,
)
from usage.models import TTFT_BOUNDS_MS
from usage.selectors.dashboard import (
    Quantile,
    span_days,
    span_last,
    ttft_quantile,
)
from usage.tests.factories import ModelPriceFactory, record_mixed_usage

pytestmark = pytest.mark.django_db

URL = reverse("admin:usage_usagedashboard_changelist")
# Yesterday (UTC), so that the last 7 or 30 days of the project and key pages hold it.
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
NOON = datetime(YESTERDAY.year, YESTERDAY.month, YESTERDAY.day, 12, 5, tzinfo=UTC)
DAY = {"since": YESTERDAY.isoformat(), "until": YESTERDAY.isoformat()}


@pytest.fixture(autouse=True)
def fresh_queue():
    ledger.reset_for_tests()
    yield
    ledger.reset_for_tests()


def _key(project, owner) -> ApiKey:
    ProjectMemberFactory(project=project, user=owner, role="member")
    key, _ = api_key_create(
        kind="project",
        organization=project.organization,
        project=project,
        owner=owner,
        name=f"key of {project.name}",
    )
    return key


@pytest.fixture
def tenants(user):
    """Two projects of one organization and a project of another, with usage on the
    same day; the other's names and model must never show on the first's pages.

    The first project: 6 requests at 12:05 and 6 at 14:05; the second: 6 at 12:05
    (each 6: 3 answered, 1 upstream error, 2 refused with 429).
    """
    ModelPriceFactory(model="jan-v1-4b", input_per_million="1", output_per_million="2")
    provider = Provider.objects.create(name="Shared vLLM", base_url="http://a.test/v1")
    first = ProjectFactory(name="Search")
    second = ProjectFactory(name="Quiet", organization=first.organization)
    other = ProjectFactory(name="Tenant B secret project")
    keys = {project: _key(project, user) for project in (first, second, other)}
    batches = [(first, NOON), (first, NOON + timedelta(hours=2)), (second, NOON)]
    for project, at in batches:
        record_mixed_usage(
            at=at,
            organization_id=project.organization_id,
            project_id=project.pk,
            api_key_id=keys[project].pk,
            provider_id=provider.pk,
        )
    record_mixed_usage(
        at=NOON,
        organization_id=other.organization_id,
        project_id=other.pk,
        api_key_id=keys[other].pk,
        provider_id=provider.pk,
        model="tenant-b-private-model",
    )
    ledger.flush()
    return first, second, other, provider


def test_the_dashboard_shows_an_organizations_figures_from_its_rollups(
    admin_client, tenants
):
    """Totals, the hour buckets, by model and provider; nothing of the other
    organization."""
    first, _, other, provider = tenants
    response = admin_client.get(
        URL, {"organization": first.organization.public_id, **DAY}
    )
    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert (dashboard.span.width, dashboard.span.count) == (3600, 24)
    total = dashboard.total
    assert (total.requests, total.errors, total.refused) == (18, 9, 6)
    assert (total.rate_limited, total.over_budget, total.other_errors) == (3, 3, 3)
    assert (total.input_tokens, total.output_tokens, total.ttft_count) == (90, 180, 9)
    assert total.cost == Decimal("0.00045")  # 90 x $1/M + 180 x $2/M
    assert str(total.ttft_p50) == "375 ms"  # the 4.5th of 9: 80, 80, 80, 300, ...
    by_hour = {start.hour: f.requests for start, f in dashboard.buckets if f.requests}
    assert by_hour == {12: 12, 14: 6}
    rows = [
        (row.model, row.obj, row.figures.requests, row.figures.errors)
        for row in dashboard.by_model_provider
    ]
    assert rows == [
        ("jan-v1-4b", provider, 12, 3),
        ("jan-v1-4b", None, 6, 6),  # refused before routing: no provider
    ]
    html = response.content.decode()
    assert "tenant-b-private-model" not in html
    assert "Tenant B secret project" not in html
    assert other.public_id not in html


def test_top_projects_and_keys_rank_by_requests_and_name_their_rows(
    admin_client, tenants
):
    first, second, _, _ = tenants
    response = admin_client.get(
        URL, {"organization": first.organization.public_id, **DAY}
    )
    dashboard = response.context["dashboard"]
    assert [(row.obj, row.figures.requests) for row in dashboard.top_projects] == [
        (first, 12),
        (second, 6),
    ]
    assert [
        (row.obj.name, row.figures.rate_limited, row.figures.over_budget)
        for row in dashboard.top_keys
    ] == [("key of Search", 2, 2), ("key of Quiet", 1, 1)]
    html = response.content.decode()
    assert reverse("admin:orgs_project_change", args=[first.pk]) in html
    assert "key of Search" in html


def test_each_organization_sees_only_its_own_figures(admin_client, tenants):
    """The same page for the other organization: its figures and names only."""
    first, _, other, _ = tenants
    response = admin_client.get(
        URL, {"organization": other.organization.public_id, **DAY}
    )
    dashboard = response.context["dashboard"]
    assert dashboard.total.requests == 6
    assert [row.model for row in dashboard.by_model_provider] == [
        "tenant-b-private-model",
        "tenant-b-private-model",
    ]
    assert [row.obj for row in dashboard.top_projects] == [other]
    html = response.content.decode()
    assert "Search" not in html
    assert first.public_id not in html


def test_the_tables_hold_the_numbers_the_charts_draw(admin_client, tenants):
    """The server-rendered tables carry every number (readable without JavaScript)
    and the data-value the charts read."""
    first, _, _, _ = tenants
    html = admin_client.get(
        URL, {"organization": first.organization.public_id, **DAY}
    ).content.decode()
    assert 'id="usage-series"' in html
    label = NOON.strftime("%m-%d 12:00")
    assert f'<th scope="row" data-label="{label}">{label}</th>' in html
    # 12:00: 12 requests, 2 other errors, 2 refused by rate limits and 2 by budgets,
    # 60 + 120 tokens.
    assert (
        '<td class="number" data-value="12">12</td>\n'
        '      <td class="number" data-value="2">2</td>\n'
        '      <td class="number" data-value="2">2</td>\n'
        '      <td class="number" data-value="2">2</td>\n'
        '      <td class="number" data-value="60">60</td>\n'
        '      <td class="number" data-value="120">120</td>'
    ) in html
    assert "chart.umd.min.js" in html
    assert "//cdn" not in html


def test_the_window_defaults_to_the_last_24_hours_of_the_default_organization(
    admin_client, default_org, user
):
    project = ProjectFactory(organization=default_org)
    key = _key(project, user)
    record_mixed_usage(
        at=datetime.now(UTC) - timedelta(minutes=30),
        organization_id=default_org.pk,
        project_id=project.pk,
        api_key_id=key.pk,
        provider_id=None,
    )
    ledger.flush()
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert response.context["organization"] == default_org
    assert '<option value="24h" selected>' in response.content.decode()
    dashboard = response.context["dashboard"]
    assert (dashboard.span.width, dashboard.span.count) == (3600, 24)
    assert dashboard.total.requests == 6
    last_hour = admin_client.get(URL, {"window": "1h"}).context["dashboard"]
    assert (last_hour.span.width, last_hour.span.count) == (60, 60)
    assert last_hour.total.requests == 6


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"organization": "org_nope"}, "organization", "Select a valid choice."),
        ({"window": "2y"}, "window", "Select a valid choice."),
        ({"since": "2026-03-14"}, "__all__", "Give both dates"),
        ({"since": "2026-03-15", "until": "2026-03-14"}, "until", "on or after"),
        ({"since": "2025-01-01", "until": "2026-03-14"}, "until", "at most 366 days"),
        ({"since": "yesterday", "until": "2026-03-14"}, "since", "valid date"),
    ],
)
def test_bad_choices_answer_400_with_the_forms_error(
    admin_client, organization, query, field, message
):
    response = admin_client.get(URL, query)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors[field])
    assert "dashboard" not in response.context
    assert message.split(" ")[0] in response.content.decode()


def test_who_may_see_the_dashboard(client, organization):
    """Anonymous and non-staff users get the admin's login page; staff without the
    permission get 403; staff with it see the page."""
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    client.force_login(UserFactory())
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_usagedashboard"))
    client.force_login(staff)
    response = client.get(URL)
    assert response.status_code == 200
    assert "Probe these providers now" not in response.content.decode()
    assert client.post(URL).status_code == 403  # probing needs change_provider


def test_the_admin_index_links_the_dashboard(admin_client, organization):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{URL}"' in html
    assert "Usage dashboard" in html
    page = admin_client.get(
        reverse("admin:orgs_organization_change", args=[organization.pk])
    ).content.decode()
    assert f"{URL}?organization={organization.public_id}" in page


def test_budgets_show_the_months_spend_and_state(admin_client, organization, user):
    ModelPriceFactory(model="jan-v1-4b", input_per_million="1", output_per_million="2")
    project = ProjectFactory(organization=organization)
    key = _key(project, user)
    Budget.objects.create(organization=organization, monthly_limit_usd="0.00")
    Budget.objects.create(
        organization=organization,
        project=project,
        alert_threshold_usd="0.00",
        monthly_limit_usd="100.00",
    )
    Budget.objects.create(
        organization=organization,
        project=project,
        api_key=key,
        monthly_limit_usd="5.00",
    )
    record_mixed_usage(
        at=datetime.now(UTC),
        organization_id=organization.pk,
        project_id=project.pk,
        api_key_id=key.pk,
        provider_id=None,
    )
    ledger.flush()
    response = admin_client.get(URL, {"organization": organization.public_id})
    states = [
        (status.budget.scope, status.spent, status.state)
        for status in response.context["budgets"]
    ]
    spent = Decimal("0.00015")  # 30 x $1/M + 60 x $2/M
    assert states == [
        ("organization", spent, "over cap"),
        ("project", spent, "alerting"),
        ("api_key", spent, "ok"),
    ]
    assert "over cap" in response.content.decode()


@pytest.mark.server
def test_providers_show_routing_health_and_answer_a_probe(
    admin_client, organization, fake
):
    """A provider out of rotation in this process is shown so; a probe (POST) asks
    each provider for its models: the fake answers, a closed port does not."""
    up = make_provider(fake.base_url, name="Up")
    down = make_provider("http://127.0.0.1:9/v1", name="Down")
    elsewhere = make_provider(
        "http://127.0.0.1:9/v1", name="Other org's", organization=OrganizationFactory()
    )
    routing._unhealthy[down.pk] = time.monotonic()  # as mark_failed() leaves it
    query = f"?organization={organization.public_id}"
    response = admin_client.get(URL + query)
    health = {h.provider.name: h for h in response.context["providers"]}
    assert set(health) == {"Up", "Down"}
    assert health["Up"].failed_at is None
    assert (health["Down"].failed_at is not None, health["Down"].processes) == (True, 1)
    assert elsewhere.name not in response.content.decode()
    probed = admin_client.post(URL + query)
    assert probed.status_code == 200
    answers = {h.provider.pk: h.probe for h in probed.context["providers"]}
    assert answers == {up.pk: True, down.pk: False}
    assert "unreachable" in probed.content.decode()


def test_providers_out_of_rotation_in_other_processes_are_shown(
    admin_client, organization, monkeypatch
):
    """What other server processes published (inference.provider_health) counts
    too: a provider two processes have out of rotation says so, since the first."""
    down = make_provider("http://127.0.0.1:9/v1", name="Down")
    make_provider("http://127.0.0.1:9/v1", name="Up")
    for process, failed_at in (("host-a:1", 1_000.0), ("host-b:2", 2_000.0)):
        monkeypatch.setattr(provider_health, "process_name", lambda p=process: p)
        async_to_sync(provider_health.apublish)(down.public_id, failed_at)
    response = admin_client.get(URL, {"organization": organization.public_id})
    health = {
        h.provider.name: (h.failed_at, h.processes)
        for h in response.context["providers"]
    }
    assert health == {
        "Down": (datetime.fromtimestamp(1_000.0, UTC), 2),
        "Up": (None, 0),
    }
    assert "out of rotation</span> in 2 processes" in response.content.decode()


def test_a_project_and_a_key_page_chart_their_own_usage(admin_client, tenants):
    first, second, _, _ = tenants
    key = ApiKey.objects.get(project=first)
    for url in (
        reverse("admin:orgs_project_change", args=[first.pk]),
        reverse("admin:orgs_apikey_change", args=[key.pk]),
    ):
        response = admin_client.get(url, {"usage_window": "30d"})
        assert response.status_code == 200
        total = response.context["usage_total"]
        assert (total.requests, total.rate_limited, total.over_budget) == (12, 2, 2)
        assert 'id="usage-object-series"' in response.content.decode()
    page = admin_client.get(
        reverse("admin:orgs_project_change", args=[second.pk]), {"usage_window": "x"}
    )
    assert page.context["usage_total"].requests == 6
    assert "Unknown window &#x27;x&#x27;" in page.content.decode()


def test_time_to_first_token_quantiles_from_the_histogram():
    """Linear within the bucket holding the rank; past the last bound: 'over'."""
    empty = [0] * (len(TTFT_BOUNDS_MS) + 1)
    assert ttft_quantile(empty, 0.5) is None
    # 80, 300 and 600 ms: buckets <=100, <=500 and <=1000.
    histogram = [1, 0, 1, 1, 0, 0, 0, 0]
    assert ttft_quantile(histogram, 0.5) == Quantile(250 + 250 * 0.5)
    p95 = ttft_quantile(histogram, 0.95)
    assert p95 is not None
    assert (p95.ms, p95.over) == (pytest.approx(500 + 500 * 0.85), False)
    slow = [0, 0, 0, 0, 0, 0, 0, 3]
    assert ttft_quantile(slow, 0.5) == Quantile(10000.0, over=True)
    assert str(ttft_quantile(slow, 0.5)) == "> 10,000 ms"


def test_spans_cut_windows_in_whole_buckets():
    now = datetime(2026, 3, 14, 12, 34, 56, tzinfo=UTC)
    hour = span_last(seconds=86400, now=now)
    assert (hour.start_at, hour.end_at, hour.width) == (
        datetime(2026, 3, 13, 13, tzinfo=UTC),
        datetime(2026, 3, 14, 13, tzinfo=UTC),
        3600,
    )
    week = span_last(seconds=7 * 86400, now=now)
    assert (week.start_at, week.count, week.width) == (
        datetime(2026, 3, 8, tzinfo=UTC),
        7,
        86400,
    )
    days = span_days(since=date(2026, 3, 1), until=date(2026, 3, 3))
    assert (days.start_at, days.end_at, days.width) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 4, tzinfo=UTC),
        3600,
    )
