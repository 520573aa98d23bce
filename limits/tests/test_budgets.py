"""Monthly budgets at admission: the estimated cost is reserved before the upstream is
called, the real cost settled after; a spent budget answers OpenAI's 429
insufficient_quota; owners get one alert e-mail a month."""

import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import openai
import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from inference import usage
from inference.models import UsageRecord
from inference.testing.fixtures import MODEL
from limits.models import Budget
from limits.services import budget_set
from orgs.models import ApiKey
from orgs.tests.factories import OrganizationMemberFactory
from usage.selectors import month_spend
from usage.services import price_set

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}


def priced(live, usd_per_million: str = "1000") -> ApiKey:
    """A price of $1,000 per million tokens both ways: $0.001 a token."""
    price_set(
        model=MODEL,
        input_per_million=usd_per_million,
        output_per_million=usd_per_million,
    )
    return ApiKey.objects.get(project=live.project)


@pytest.mark.server
def test_a_spent_budget_refuses_before_the_upstream_is_called(live):
    key = priced(live)
    # Each request reserves ~$0.02 (9 prompt tokens estimated + 10 completion) and
    # costs what the fake reports.
    budget_set(
        organization=key.organization,
        project=key.project,
        amounts={"monthly_limit_usd": "0.10"},
    )
    body = {**CHAT, "max_tokens": 10, "fake": {"tokens": 10}}
    statuses = []
    for _ in range(30):
        answer = live.post("/v1/chat/completions", body)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            break
    assert statuses[-1] == 429
    assert 4 <= statuses.count(200) <= 10  # $0.01 to $0.02 each under a $0.10 cap
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == (
        "insufficient_quota",
        "insufficient_quota",
    )
    assert f"project {key.project.public_id} has spent $" in error["message"]
    assert "of its $0.10 monthly budget" in error["message"]
    assert answer.headers["x-should-retry"] == "false"
    upstream_calls = live.fake.recorder.total_requests
    client = live.openai()
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**CHAT, max_tokens=10)
    assert raised.value.code == "insufficient_quota"
    assert live.fake.recorder.total_requests == upstream_calls
    usage.flush()
    spent = month_spend(organization_id=key.organization_id, project_id=key.project_id)
    assert Decimal("0") < spent <= Decimal("0.10")
    assert (
        UsageRecord.objects.filter(http_status=429, status="over_budget").count() == 2
    )


@pytest.mark.server
def test_concurrent_requests_cannot_overspend_together(live):
    """Reserve-then-settle: ten requests at once against room for three."""
    from concurrent.futures import ThreadPoolExecutor

    key = priced(live)
    body = {**CHAT, "max_tokens": 10, "fake": {"tokens": 10, "delay_ms": 20}}
    # One request reserves ~$0.019 (9 prompt tokens estimated, 10 completion): five
    # fit under the cap at once, whatever they cost in the end.
    budget_set(
        organization=key.organization,
        api_key=key,
        amounts={"monthly_limit_usd": "0.10"},
    )
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(
            pool.map(
                lambda _: live.post("/v1/chat/completions", body).status_code, range(10)
            )
        )
    assert 5 <= statuses.count(200) <= 6  # a sixth only if one settled meanwhile
    assert statuses.count(429) == 10 - statuses.count(200)
    usage.flush()
    assert month_spend(
        organization_id=key.organization_id, api_key_id=key.pk
    ) <= Decimal("0.10")


@pytest.mark.server
def test_a_model_without_a_price_is_not_stopped_by_a_budget(live):
    key = ApiKey.objects.get(project=live.project)
    budget_set(
        organization=key.organization,
        project=key.project,
        amounts={"monthly_limit_usd": "0"},
    )
    assert live.post("/v1/chat/completions", CHAT).status_code == 200


@pytest.mark.server
def test_owners_get_one_alert_a_month(live):
    key = priced(live)
    owner = OrganizationMemberFactory(organization=key.organization, role="owner").user
    budget = budget_set(
        organization=key.organization,
        amounts={"alert_threshold_usd": "0.01", "monthly_limit_usd": "100"},
    )
    mail.outbox.clear()
    for _ in range(4):
        assert live.post("/v1/chat/completions", CHAT).status_code == 200
    for _ in range(100):  # the alert is sent by a background task
        if mail.outbox:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert "reached its budget alert" in mail.outbox[0].subject
    budget.refresh_from_db()
    month = datetime.now(UTC).date().replace(day=1)
    assert budget.alerted_month == month


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amounts", "param"),
    [
        ({"monthly_limit_usd": "-1"}, "monthly_limit_usd"),
        ({"monthly_limit_usd": "1.001"}, "monthly_limit_usd"),
        ({"monthly_limit_usd": "ten"}, "monthly_limit_usd"),
        ({"monthly_limit_usd": "NaN"}, "monthly_limit_usd"),
        ({"alert_threshold_usd": True}, "alert_threshold_usd"),
        ({"cap": 5}, "cap"),
    ],
)
def test_bad_budgets_are_refused(project, amounts, param):
    from janserver.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as raised:
        budget_set(organization=project.organization, project=project, amounts=amounts)
    assert raised.value.param == param
    assert not Budget.objects.exists()


@pytest.mark.django_db
def test_manage_py_budget(project):
    out = StringIO()
    call_command(
        "budget", "set", "--project", project.public_id, "--limit", "50", "--alert", "40",
        stdout=out,
    )  # fmt: skip
    assert "limit 50.00 USD, alert 40.00 USD" in out.getvalue()
    call_command("budget", "set", "--project", project.public_id, "--limit", "none")
    budget = Budget.objects.get()
    assert (budget.monthly_limit_usd, budget.alert_threshold_usd) == (None, Decimal(40))
    with pytest.raises(CommandError, match="at most 2 decimals"):
        call_command(
            "budget", "set", "--project", project.public_id, "--alert", "1.234"
        )
    call_command("budget", "remove", "--project", project.public_id)
    assert not Budget.objects.exists()
