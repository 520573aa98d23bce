"""The ledger of tool calls: one ToolCall row per call, written off the caller's path.

record() never blocks: the row is written by a background task (janserver.background,
which the lifespan shutdown waits for), so a caller that is cancelled right after a
call still leaves its record.
"""

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from django.db import IntegrityError, transaction
from django.utils import timezone

from janserver import background, db
from janserver.principal import Principal
from tools import metrics
from tools.models import ToolCall

logger = logging.getLogger("janserver.tools")


@dataclass(slots=True, kw_only=True)
class ToolCallEntry:
    request_id: str
    tool: str
    server_id: int | None
    server_label: str
    channel: str
    outcome: str
    duration_ms: float
    organization_id: int | None = None
    project_id: int | None = None
    api_key_id: int | None = None
    user_id: int | None = None
    created_at: datetime = field(default_factory=timezone.now)


class CallerFields(TypedDict):
    organization_id: int | None
    project_id: int | None
    api_key_id: int | None
    user_id: int | None


def caller_fields(principal: Principal, organization_id: int | None) -> CallerFields:
    """Who called: the key's organization and project, or the user (and the
    organization of the server they called, for a login user)."""
    return CallerFields(
        organization_id=principal.organization_id or organization_id,
        project_id=principal.project_id,
        api_key_id=principal.api_key_id,
        user_id=principal.user_id,
    )


def _write(entry: ToolCallEntry) -> None:
    try:
        with transaction.atomic():
            ToolCall.objects.create(**asdict(entry))
    except IntegrityError:
        # A server (or key, project) deleted during the call: keep the record without it.
        entry.server_id = None
        ToolCall.objects.create(**{**asdict(entry), **_existing_references(entry)})


def _existing_references(entry: ToolCallEntry) -> dict[str, int | None]:
    from accounts.models import User
    from orgs.models import ApiKey, Organization, Project

    models: dict[str, Any] = {
        "organization_id": Organization,
        "project_id": Project,
        "api_key_id": ApiKey,
        "user_id": User,
    }
    return {
        name: value
        if value is not None and model.objects.filter(pk=value).exists()
        else None
        for name, model in models.items()
        for value in [getattr(entry, name)]
    }


def record(entry: ToolCallEntry) -> None:
    """Count the call (metrics) and write its row in the background."""
    metrics.tool_call_observe(entry.tool, entry.outcome, entry.duration_ms / 1000)
    try:
        background.spawn(_awrite(entry), name="tool-call-record")
    except RuntimeError:  # no running loop: a sync caller
        _write(entry)


async def _awrite(entry: ToolCallEntry) -> None:
    try:
        await db.run_write(_write, entry)
    except Exception:
        logger.exception(
            "Tool call record not written", extra={"tool_call": asdict(entry)}
        )
