"""Async views of the OpenAI Responses API (/v1/responses): each enters the pipeline
(inference.pipeline) first."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations.api import openapi
from conversations.api.serializers import NewestFirstListQuerySerializer
from conversations.models import Response
from conversations.responses import buffer, create, resume, selectors, services
from conversations.responses.objects import record_from_row, response_object
from conversations.selectors import PROJECT_HEADER, Caller, caller_get
from inference import pipeline
from inference.pipeline import Call
from janserver import db
from janserver.api.openapi import documented
from janserver.api.pagination import list_body
from janserver.api.shapes import deleted_body
from janserver.errors import InvalidRequest
from janserver.http.pumped import PumpedResponse, Write, event_stream


def _object(row: Response) -> JsonResponse:
    return JsonResponse(response_object(record_from_row(row)))


async def _caller(call: Call) -> Caller:
    return await db.run(
        caller_get,
        principal=call.principal,
        project_public_id=call.headers.get(PROJECT_HEADER),
    )


def _response_current(caller: Caller, public_id: str) -> Response:
    """The caller's response, failed first if the process running it was lost."""
    response = selectors.response_get(caller=caller, public_id=public_id)
    lost_before = timezone.now() - timedelta(
        seconds=settings.RESPONSES_ORPHANED_SECONDS
    )
    return services.response_orphan_settle(response=response, older_than=lost_before)


async def _response(request: HttpRequest, endpoint: str, response_id: str) -> Response:
    caller = await _caller(await pipeline.enter(request, endpoint))
    return await db.run(_response_current, caller, response_id)


@documented(openapi.RESPONSES)
@csrf_exempt
@require_POST
async def responses_create(request: HttpRequest) -> HttpResponse | PumpedResponse:
    call = await pipeline.enter(request, "responses")
    prepared = await create.prepare(call)
    headers = prepared.account.limit_headers
    if prepared.request.background:
        await create.start_background(prepared)
        if prepared.request.stream:
            return event_stream(_replay(prepared.record.public_id, -1), headers)
        return JsonResponse(response_object(prepared.record), headers=headers)
    run = await create.start_foreground(prepared)
    if prepared.request.stream:

        async def pump(write: Write) -> None:
            await resume.run_stream(run, write)

        return event_stream(pump, headers)
    return JsonResponse(await create.run_to_end(run), headers=headers)


def _replay(response_id: str, after: int, *, ended: bool = False) -> Any:
    async def finished() -> bool:
        row = await db.run(_status_of, response_id)
        return row is None or row not in ("queued", "in_progress")

    async def pump(write: Write) -> None:
        async for part in resume.replay(response_id, after, finished, ended=ended):
            await write(part)

    return pump


def _status_of(response_id: str) -> str | None:
    return (
        Response.objects.filter(public_id=response_id)
        .values_list("status", flat=True)
        .first()
    )


# Sequence numbers are JSON integers (and parts of Redis stream ids): within 2**53.
MAX_SEQUENCE_NUMBER = 2**53 - 1


def _starting_after(request: HttpRequest) -> int:
    raw = request.GET.get("starting_after") or ""
    if not raw:
        return -1
    try:
        value = int(raw) if len(raw) <= 20 else -2
    except ValueError:
        value = -2
    if not -1 <= value <= MAX_SEQUENCE_NUMBER:
        raise InvalidRequest(
            f"`starting_after` must be a sequence number from -1 to "
            f"{MAX_SEQUENCE_NUMBER}.",
            param="starting_after",
        )
    return value


async def _stream_stored(row: Response, request: HttpRequest) -> PumpedResponse:
    after = _starting_after(request)
    if not row.background:
        raise InvalidRequest(
            "Only responses created with background=true can be streamed.",
            param="stream",
        )
    finished = row.status not in ("queued", "in_progress")
    # Asked in every case: an unreachable Redis is a 503 now, not a broken stream.
    exists = await buffer.event_buffer().exists(row.public_id)
    if finished and not exists:
        raise InvalidRequest(
            "The events of this response are no longer available.", param="stream"
        )
    return event_stream(_replay(row.public_id, after, ended=finished))


@documented(openapi.RESPONSE_DETAIL)
@csrf_exempt
@require_http_methods(["GET", "DELETE"])
async def response_detail(
    request: HttpRequest, response_id: str
) -> HttpResponse | PumpedResponse:
    endpoint = "responses.delete" if request.method == "DELETE" else "responses.get"
    row = await _response(request, endpoint, response_id)
    if request.method == "DELETE":
        await db.run(services.response_delete, response=row)
        if row.status in ("queued", "in_progress"):
            await buffer.cancel_broadcast(response_id)
        return JsonResponse(deleted_body("response", response_id))
    if request.GET.get("stream", "").lower() == "true":
        return await _stream_stored(row, request)
    return _object(row)


@documented(openapi.RESPONSE_CANCEL)
@csrf_exempt
@require_POST
async def response_cancel(request: HttpRequest, response_id: str) -> HttpResponse:
    row = await _response(request, "responses.cancel", response_id)
    was_running = row.status in ("queued", "in_progress")
    row = await db.run(services.response_cancel, response=row)
    if was_running:
        # Always through the channel layer: the runner may live in another process.
        await buffer.cancel_broadcast(response_id)
    return _object(row)


@documented(openapi.RESPONSE_INPUT_ITEMS)
@require_GET
async def response_input_items(request: HttpRequest, response_id: str) -> HttpResponse:
    row = await _response(request, "responses.input_items", response_id)
    query = NewestFirstListQuerySerializer(data=request.GET)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    items, has_more = selectors.input_item_page(
        response=row,
        limit=data["limit"],
        order=data["order"],
        after=data.get("after") or data.get("last"),
    )
    return JsonResponse(list_body(items, has_more))
