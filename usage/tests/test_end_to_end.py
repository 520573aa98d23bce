"""End to end: requests through a real gateway, their usage in the rollups, read back
with the openai SDK's admin client over HTTP; an idempotent replay costs nothing."""

import time

import httpx
import openai
import pytest
from django.db.models import Sum

from inference import usage as ledger
from inference.models import UsageRecord
from orgs.services import api_key_create
from orgs.tests.factories import OrganizationMemberFactory
from usage.selectors import month_spend
from usage.tests.factories import ModelPriceFactory

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_requests_are_reported_and_a_replay_is_not_counted(live):
    ModelPriceFactory(model="jan-v1-4b", input_per_million="1", output_per_million="3")
    client = live.openai()
    started = int(time.time())
    client.chat.completions.create(
        model="jan-v1-4b", messages=[{"role": "user", "content": "Hi"}]
    )
    list(
        client.chat.completions.create(
            model="jan-v1-4b",
            messages=[{"role": "user", "content": "Stream"}],
            stream=True,
        )
    )
    body = {
        "model": "jan-v1-4b",
        "messages": [{"role": "user", "content": "Once"}],
        "store": True,
    }
    headers = {**live.headers, "Idempotency-Key": "retry-1"}
    for _ in range(2):  # the second is a replay: no upstream call, no usage
        answer = httpx.post(
            f"{live.url}/v1/conv/chat/completions",
            json=body,
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 200
    assert answer.headers["Idempotent-Replayed"] == "true"
    ledger.flush()

    rows = UsageRecord.objects.filter(api_key__project=live.project)
    assert rows.count() == 3
    tokens = rows.aggregate(i=Sum("prompt_tokens"), o=Sum("completion_tokens"))
    assert tokens["o"] > 0

    organization = live.project.organization
    owner = OrganizationMemberFactory(organization=organization, role="owner").user
    _, admin_secret = api_key_create(
        kind="admin", organization=organization, owner=owner
    )
    admin = openai.OpenAI(
        base_url=f"{live.url}/v1",
        api_key="unused",
        admin_api_key=admin_secret,
        max_retries=0,
    ).admin.organization.usage
    page = admin.completions(
        start_time=started - 60, bucket_width="1h", limit=2, group_by=["project_id"]
    )
    results = [result for bucket in page.data for result in bucket.results]
    assert [(r.project_id, r.num_model_requests) for r in results] == [
        (live.project.public_id, 3)
    ]
    assert (results[0].input_tokens, results[0].output_tokens) == (
        tokens["i"],
        tokens["o"],
    )
    expected = (tokens["i"] * 1 + tokens["o"] * 3) / 1_000_000
    costs = admin.costs(start_time=started - 86400)
    assert sum(r.amount.value for b in costs.data for r in b.results) == pytest.approx(
        expected
    )
    assert float(month_spend(organization_id=organization.pk)) == pytest.approx(
        expected
    )
