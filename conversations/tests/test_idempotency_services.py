"""The Idempotency-Key services: claim, expiry, abandoned claims, purge."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.completions.idempotency import (
    IN_FLIGHT_MAX,
    KEY_TTL,
    Replay,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    idempotency_scope,
)
from conversations.models import IdempotencyKey
from conversations.selectors import Caller
from janserver.errors import Conflict, InvalidRequest

pytestmark = pytest.mark.django_db

CLAIM = {"scope": "project:1", "route": "conv.chat.completions", "key": "k1"}


def claim(request_hash: str = "h1"):
    return idempotency_claim(**CLAIM, request_hash=request_hash)


def age(row_id: int, by: timedelta) -> None:
    IdempotencyKey.objects.filter(pk=row_id).update(created_at=timezone.now() - by)


def test_the_first_request_claims_and_a_retry_in_flight_conflicts():
    row_id = claim()
    assert isinstance(row_id, int)
    with pytest.raises(Conflict):
        claim()


def test_a_completed_key_replays_its_result():
    row_id = claim()
    idempotency_complete(claim=row_id, result={"a": 1}, conversation=None)
    assert claim() == Replay(result={"a": 1})


def test_another_body_is_refused_even_in_flight():
    claim()
    with pytest.raises(InvalidRequest) as raised:
        claim("other")
    assert raised.value.param == "Idempotency-Key"


def test_a_released_key_can_be_claimed_again():
    row_id = claim()
    idempotency_release(claim=row_id)
    assert isinstance(claim(), int)


def test_release_leaves_a_completed_key_alone():
    row_id = claim()
    idempotency_complete(claim=row_id, result={}, conversation=None)
    idempotency_release(claim=row_id)
    assert IdempotencyKey.objects.get().status == "completed"


def test_an_expired_key_is_replaced_on_lookup():
    row_id = claim()
    idempotency_complete(claim=row_id, result={"old": True}, conversation=None)
    age(row_id, KEY_TTL + timedelta(seconds=1))
    fresh = claim("new body")
    assert isinstance(fresh, int)
    assert fresh != row_id
    assert IdempotencyKey.objects.get().request_hash == "new body"


def test_an_abandoned_claim_is_taken_over():
    """A worker that died mid-request leaves an in_progress row behind."""
    row_id = claim()
    age(row_id, IN_FLIGHT_MAX + timedelta(seconds=1))
    assert isinstance(claim(), int)
    assert IdempotencyKey.objects.count() == 1


def test_purge_deletes_expired_keys_only():
    old, recent = claim(), idempotency_claim(**{**CLAIM, "key": "k2"}, request_hash="h")
    age(old, KEY_TTL + timedelta(minutes=1))
    out = io.StringIO()
    call_command("purge_idempotency_keys", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 expired idempotency key(s)."
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [recent]


def test_scopes_name_a_key_project_or_a_user_in_a_project(user):
    assert idempotency_scope(Caller(user=user, via_key=True, project_id=7)) == (
        "project:7"
    )
    assert idempotency_scope(Caller(user=user, via_key=False, project_id=7)) == (
        f"user:{user.pk}:project:7"
    )
    assert idempotency_scope(Caller(user=user, via_key=False)) == (
        f"user:{user.pk}:project:personal"
    )
