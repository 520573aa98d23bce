"""Response writes: create, start, finish, cancel and delete stored responses.

Callers look responses up with conversations.responses.selectors first (which checks
what the caller may see); these functions trust what they are given. The status only
ever moves forward: queued -> in_progress -> one final status, and a final status is
never replaced (a cancel that won the race keeps `cancelled`).
"""

from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from conversations.models import Conversation, Response, ResponseStatus
from conversations.responses.objects import UNFINISHED_STATUSES, Record
from conversations.selectors import Caller
from conversations.services import conversation_items_append
from janserver.errors import InvalidRequest, NotFound
from janserver.http.json_body import storable
from orgs.services import project_personal_ensure

# What a cancel answers for a response that already ended (as OpenAI words it).
CANCEL_REFUSALS = {
    ResponseStatus.COMPLETED: "Cannot cancel a completed response.",
    ResponseStatus.FAILED: "Cannot cancel a failed response.",
    ResponseStatus.INCOMPLETE: "Cannot cancel an incomplete response.",
}
APPENDED_STATUSES = (ResponseStatus.COMPLETED, ResponseStatus.INCOMPLETE)


@transaction.atomic
def response_create(
    *,
    caller: Caller,
    record: Record,
    api_key_id: int | None,
    previous: Response | None = None,
    conversation: Conversation | None = None,
) -> Response:
    """Store a new response (queued or in progress) of the caller's user.

    It goes to the conversation's project, else the caller's (or personal) project.
    """
    if conversation is not None:
        project_id = conversation.project_id
    elif caller.project_id is not None:
        project_id = caller.project_id
    else:
        project_id = project_personal_ensure(user=caller.user).pk
    return Response.objects.create(
        public_id=record.public_id,
        # The second the live answer gave, so that a retrieve answers the same.
        created_at=_moment(record.created_at),
        owner=caller.user,
        project_id=project_id,
        api_key_id=api_key_id,
        conversation=conversation,
        previous_response=previous,
        model=record.model,
        status=record.status,
        background=record.background,
        store=True,
        instructions=record.instructions or "",
        input=record.input_items,
        parameters=record.parameters,
        metadata=record.metadata,
    )


def _moment(seconds: int) -> datetime:
    """A Record's Unix time (a whole second, as OpenAI gives it) as the row stores it:
    the row's own clock reading could fall in the next second."""
    return datetime.fromtimestamp(seconds, tz=UTC)


@transaction.atomic
def response_start(*, public_id: str) -> bool:
    """Move a queued response to in_progress; False if it was cancelled or deleted."""
    return bool(
        Response.objects.filter(
            public_id=public_id, status=ResponseStatus.QUEUED
        ).update(status=ResponseStatus.IN_PROGRESS, updated_at=timezone.now())
    )


def _append(
    conversation_id: int, items: list[dict[str, Any]], row: Response | None
) -> None:
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or not items:
        return
    try:
        conversation_items_append(
            conversation=conversation, items=items, response=row, max_items=len(items)
        )
    except NotFound:  # deleted meanwhile: nothing to add to
        return


@transaction.atomic
def response_finish(
    *, record: Record, conversation_id: int | None = None
) -> str | None:
    """Store how a response ended and append its turn to its conversation.

    A response cancelled meanwhile stays `cancelled` (its partial output is kept);
    a deleted one is not written again. Returns the status stored (None if deleted).
    A completed or incomplete turn (input and output items) is appended to the
    conversation `conversation_id`, also for a response that is not stored.
    """
    row = None
    output = storable(record.output)
    if record.store:
        row = (
            Response.objects.select_for_update()
            .filter(public_id=record.public_id)
            .first()
        )
        if row is None:
            return None
        if row.status == ResponseStatus.CANCELLED:
            record.status = ResponseStatus.CANCELLED
        _write_outcome(row, record, output)
    if conversation_id is not None and record.status in APPENDED_STATUSES:
        _append(conversation_id, record.input_items + output, row)
    return record.status


def _write_outcome(row: Response, record: Record, output: list) -> None:
    now = timezone.now()
    row.status = record.status
    row.output = output
    row.usage = record.usage
    row.error = record.error
    row.incomplete_details = record.incomplete_details
    if row.completed_at is None:
        ended = record.completed_at
        row.completed_at = now if ended is None else _moment(ended)
    row.save(
        update_fields=[
            "status",
            "output",
            "usage",
            "error",
            "incomplete_details",
            "completed_at",
            "updated_at",
        ]
    )


@transaction.atomic
def response_cancel(*, response: Response) -> Response:
    """Cancel a background response that has not finished (a cancelled one is
    returned as it is); raise InvalidRequest for any other."""
    if not response.background:
        raise InvalidRequest(
            "Only responses created with background=true can be cancelled.",
            param="response_id",
        )
    refusal = CANCEL_REFUSALS.get(response.status)  # type: ignore[call-overload]
    if refusal is not None:
        raise InvalidRequest(refusal, param="response_id")
    Response.objects.filter(pk=response.pk, status__in=UNFINISHED_STATUSES).update(
        status=ResponseStatus.CANCELLED,
        completed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    response.refresh_from_db()
    refusal = CANCEL_REFUSALS.get(response.status)  # type: ignore[call-overload]
    if refusal is not None:  # it ended while being cancelled
        raise InvalidRequest(refusal, param="response_id")
    return response


@transaction.atomic
def response_delete(*, response: Response) -> None:
    """Delete a stored response (its conversation items stay)."""
    response.delete()


# A response whose runner stopped writing for this long lost its process (killed
# outright, without the shutdown drain): it is failed rather than left unfinished.
ORPHANED_ERROR = {
    "code": "server_error",
    "message": "The server stopped before the response finished.",
}


def response_touch(*, public_id: str) -> None:
    """Record that the runner of an unfinished response is alive (its heartbeat)."""
    Response.objects.filter(public_id=public_id, status__in=UNFINISHED_STATUSES).update(
        updated_at=timezone.now()
    )


def _orphaned(older_than: datetime) -> "QuerySet[Response]":
    return Response.objects.filter(
        status__in=UNFINISHED_STATUSES, updated_at__lt=older_than
    )


@transaction.atomic
def responses_orphaned_fail(*, older_than: datetime) -> int:
    """Fail every unfinished response not touched since `older_than`; return how many."""
    now = timezone.now()
    return _orphaned(older_than).update(
        status=ResponseStatus.FAILED,
        error=ORPHANED_ERROR,
        completed_at=now,
        updated_at=now,
    )


def response_orphan_settle(*, response: Response, older_than: datetime) -> Response:
    """Return `response`, failed first if its runner is gone (see responses_orphaned_fail)."""
    if response.status not in UNFINISHED_STATUSES or response.updated_at >= older_than:
        return response
    with transaction.atomic():
        failed = (
            _orphaned(older_than)
            .filter(pk=response.pk)
            .update(
                status=ResponseStatus.FAILED,
                error=ORPHANED_ERROR,
                completed_at=timezone.now(),
                updated_at=timezone.now(),
            )
        )
    if failed:
        response.refresh_from_db()
    return response
