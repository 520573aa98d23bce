"""Factories for prices, and usage recorded through the ledger's real write path."""

from datetime import datetime
from typing import Any

import factory

from inference import usage as ledger
from inference.models import UsageStatus
from usage.models import ModelPrice


class ModelPriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPrice

    model = factory.Sequence(lambda n: f"model-{n}")
    input_per_million = "1.000000"
    output_per_million = "2.000000"


def record_usage(
    *,
    at: datetime,
    organization_id: int | None,
    project_id: int | None = None,
    api_key_id: int | None = None,
    user_id: int | None = None,
    model: str = "jan-v1-4b",
    prompt_tokens: int = 10,
    completion_tokens: int = 20,
    **fields: Any,
) -> ledger.UsageEntry:
    """Queue one usage entry as the relay does (flush with ledger.flush())."""
    values: dict[str, Any] = {
        "request_id": f"req_{at.timestamp()}",
        "endpoint": "chat.completions",
        "status": UsageStatus.OK,
        **fields,
    }
    entry = ledger.UsageEntry(
        organization_id=organization_id,
        project_id=project_id,
        api_key_id=api_key_id,
        user_id=user_id,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        created_at=at,
        **values,
    )
    ledger.record(entry)
    return entry


def record_mixed_usage(
    *,
    at: datetime,
    organization_id: int,
    project_id: int,
    api_key_id: int,
    provider_id: int | None,
    model: str = "jan-v1-4b",
) -> None:
    """Queue six requests of one key at `at`: three answered (TTFT 80, 300 and 600
    ms; 10 + 20 tokens each), one upstream error, one refused by a rate limit and one by
    a budget (429, no provider). Flush with ledger.flush()."""
    scope = {
        "organization_id": organization_id,
        "project_id": project_id,
        "api_key_id": api_key_id,
        "model": model,
    }
    for ttft in (80.0, 300.0, 600.0):
        record_usage(
            at=at, provider_id=provider_id, time_to_first_token_ms=ttft, **scope
        )
    record_usage(
        at=at,
        provider_id=provider_id,
        status=UsageStatus.UPSTREAM_ERROR,
        http_status=502,
        prompt_tokens=0,
        completion_tokens=0,
        **scope,
    )
    for refusal in (UsageStatus.RATE_LIMITED, UsageStatus.OVER_BUDGET):
        record_usage(
            at=at,
            status=refusal,
            http_status=429,
            prompt_tokens=0,
            completion_tokens=0,
            **scope,
        )
