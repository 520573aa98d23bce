"""`Idempotency-Key`: the first request claims a key, a retry is refused or replayed.

Stripe's semantics: the unique (scope, route, key) row decides races; while the first
request runs a retry gets 409 `conflict`; once it finished a retry gets the stored
`result` back (no new work); the same key with another body is a 400. A first request
that stored nothing releases its key, so that a retry runs afresh. Keys expire after
KEY_TTL (`manage.py purge_idempotency_keys` deletes them; an expired row found on
lookup is replaced), and a claim left `in_progress` longer than IN_FLIGHT_MAX (a
worker that died mid-request) may be taken over.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.models import Conversation, IdempotencyKey, IdempotencyStatus
from conversations.selectors import Caller
from janserver.errors import Conflict, InvalidRequest

KEY_TTL = timedelta(hours=24)
IN_FLIGHT_MAX = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Replay:
    """A finished request's stored answer, for a retry."""

    result: dict[str, Any]


def idempotency_scope(caller: Caller) -> str:
    """Return the key scope of a caller: a key's project, or a user in a project."""
    if caller.via_key:
        return f"project:{caller.project_id}"
    return f"user:{caller.user.pk}:project:{caller.project_id or 'personal'}"


def _abandoned(row: IdempotencyKey, now: datetime) -> bool:
    if row.created_at <= now - KEY_TTL:
        return True
    return (
        row.status == IdempotencyStatus.IN_PROGRESS
        and row.created_at <= now - IN_FLIGHT_MAX
    )


def _insert(scope: str, route: str, key: str, request_hash: str) -> int | None:
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(
                scope=scope, route=route, key=key, request_hash=request_hash
            )
    except IntegrityError:
        return None
    return row.pk


@transaction.atomic
def idempotency_claim(
    *, scope: str, route: str, key: str, request_hash: str
) -> int | Replay:
    """Claim `key` for a new request and return the claim's id, or a Replay.

    Raises Conflict while the first request with this key runs, InvalidRequest when
    the key was used with another request body.
    """
    for _attempt in range(2):
        claimed = _insert(scope, route, key, request_hash)
        if claimed is not None:
            return claimed
        row = (
            IdempotencyKey.objects.select_for_update()
            .filter(scope=scope, route=route, key=key)
            .first()
        )
        if row is None:  # released meanwhile: claim again
            continue
        if _abandoned(row, timezone.now()):
            row.delete()
            continue
        return _existing(row, request_hash)
    raise Conflict("A request with this Idempotency-Key is in progress.")


def _existing(row: IdempotencyKey, request_hash: str) -> Replay:
    if row.request_hash != request_hash:
        raise InvalidRequest(
            "This Idempotency-Key was already used with a different request body.",
            param="Idempotency-Key",
        )
    if row.status != IdempotencyStatus.COMPLETED or row.result is None:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress. "
            "Retry once it has finished."
        )
    return Replay(result=row.result)


def idempotency_complete(
    *, claim: int, result: dict[str, Any], conversation: Conversation | None
) -> None:
    """Record the answer of a claimed key (call inside the transaction that stored it)."""
    IdempotencyKey.objects.filter(pk=claim).update(
        status=IdempotencyStatus.COMPLETED,
        result=result,
        conversation=conversation,
        completed_at=timezone.now(),
    )


@transaction.atomic
def idempotency_release(*, claim: int) -> None:
    """Forget a claim whose request has no complete answer, so that a retry runs again."""
    IdempotencyKey.objects.filter(
        pk=claim, status=IdempotencyStatus.IN_PROGRESS
    ).delete()


@transaction.atomic
def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete the keys older than KEY_TTL; return how many were deleted."""
    cutoff = (now or timezone.now()) - KEY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted
