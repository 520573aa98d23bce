"""The relay behind /v1/chat/completions and /v1/completions.

Authenticate (cached), validate, look the model up in the in-memory catalog, open the
upstream request on the best healthy provider (failing over only before the first
byte), then relay: a stream event by event, or a whole JSON answer.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from django.http import HttpRequest, HttpResponse

from inference import catalog, metrics, routing, upstream
from inference.accounting import Accounting, status_for
from inference.catalog import ModelEntry, Route
from inference.models import UsageStatus
from inference.payloads import (
    Endpoint,
    InferenceRequest,
    check_context,
    parse,
    upstream_body,
)
from inference.streaming import StreamState, first_event_valid, relay
from janserver import background
from janserver.auth import arequire
from janserver.errors import (
    APIError,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from janserver.principal import Principal
from janserver.pumped import PumpedResponse, Write

logger = logging.getLogger("janserver.gateway")

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def handle(
    request: HttpRequest, endpoint: Endpoint
) -> HttpResponse | PumpedResponse:
    """Serve one inference request (see the module docstring)."""
    principal = await arequire(request, access="project")
    payload = parse(request.body, endpoint)
    entry = await model_for(principal, payload.model)
    check_context(payload, entry.context_length)
    account, route, opened = await open_accounted(
        request, principal, payload, entry, endpoint.name
    )
    if payload.stream:
        return stream_response(opened, payload, account, route)
    return await _json_response(opened, account)


async def open_accounted(
    request: HttpRequest,
    principal: Principal,
    payload: InferenceRequest,
    entry: ModelEntry,
    endpoint: str,
) -> tuple[Accounting, Route, upstream.OpenStream]:
    """Open the upstream request with its usage record; a failure before the first
    byte finishes the record and is raised."""
    account = Accounting(
        principal=principal,
        request_id=request.request_id,  # type: ignore[attr-defined]
        endpoint=endpoint,
        model=payload.model,
        stream=payload.stream,
    )
    try:
        route, opened = await open_with_failover(payload, entry, account)
    except APIError as error:
        account.finish(status=status_for(error.status), http_status=error.status)
        raise
    return account, route, opened


async def model_for(principal: Principal, model_id: str) -> ModelEntry:
    """Return the caller's model by id; unknown and foreign models are both 404."""
    snapshot = await catalog.asnapshot()
    entry = catalog.visible_models(snapshot, principal).get(model_id)
    if entry is None or not entry.routes:
        raise NotFound(
            f"The model `{model_id}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )
    return entry


def _client_error(status: int) -> APIError:
    if status == 404:
        return NotFound(
            "The model server does not serve this model.",
            param="model",
            code="model_not_found",
        )
    if status == 429:
        return RateLimited("The model server is busy. Retry shortly.")
    return InvalidRequest(
        "The model server rejected the request as invalid.", code="upstream_rejected"
    )


async def open_with_failover(
    payload: InferenceRequest, entry: ModelEntry, account: Accounting
) -> tuple[Route, upstream.OpenStream]:
    """Open the request on the first provider that answers; raise the last failure."""
    body = upstream_body(payload)
    last: APIError = ServiceUnavailable("No model server is available for this model.")
    for route in routing.candidates(entry.routes, payload.sticky_key):
        account.upstream_request()
        try:
            opened = await upstream.open_stream(
                base_url=route.base_url,
                path=payload.endpoint.path,
                body=body,
                api_key=route.api_key,
                # vLLM adopts it as its request id; llama.cpp refuses non-UUID ids.
                request_id=account.request_id if route.vendor == "vllm" else None,
            )
        except upstream.UpstreamStatus as answered:
            if (
                answered.status == 429
            ):  # busy, not broken: try another, stay in rotation
                last = _client_error(429)
                continue
            if answered.status < 500:
                raise _client_error(answered.status) from None
            last = _failed(
                route,
                "status",
                UpstreamError(f"The model server answered {answered.status}."),
            )
            continue
        except (ServiceUnavailable, UpstreamTimeout) as error:
            kind = "timeout" if isinstance(error, UpstreamTimeout) else "connect"
            last = _failed(route, kind, error)
            continue
        if payload.stream and not first_event_valid(opened.first_chunk):
            await opened.aclose()
            last = _failed(route, "garbage", UpstreamError())
            continue
        routing.mark_ok(route)
        account.upstream_answered(route)
        return route, opened
    raise last


def _failed(route: Route, kind: str, error: APIError) -> APIError:
    metrics.upstream_error(route.provider_name, kind)
    routing.mark_failed(route)
    return error


MAX_JSON_BODY = 64 * 1024 * 1024


async def read_json(
    opened: upstream.OpenStream, account: Accounting
) -> tuple[bytes, dict[str, Any]]:
    """Read a whole (non-stream) upstream answer and record its usage.

    Returns the body as received and its parsed JSON object; raises UpstreamError (502)
    for an oversized or non-JSON answer.
    """
    parts, size = [], 0
    try:
        async for chunk in opened.chunks():
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_JSON_BODY:
                raise UpstreamError("The model server's answer is too large.")
    except APIError as error:
        account.finish(status=UsageStatus.UPSTREAM_ERROR, http_status=error.status)
        raise
    finally:
        await opened.aclose()
    body = b"".join(parts)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        account.finish(status=UsageStatus.UPSTREAM_ERROR, http_status=502)
        raise UpstreamError()
    usage_data = data.get("usage")
    account.first_sent()
    account.finish(
        status=UsageStatus.OK,
        http_status=200,
        usage_data=usage_data if isinstance(usage_data, dict) else None,
    )
    return body, data


async def _json_response(
    opened: upstream.OpenStream, account: Accounting
) -> HttpResponse:
    body, _data = await read_json(opened, account)
    return HttpResponse(body, content_type="application/json")


@dataclass
class StreamOutcome:
    """How a relayed stream ended, for a StreamObserver."""

    state: StreamState
    disconnected: bool


class StreamObserver(Protocol):
    """Watches a relayed stream: conversation storage and the like.

    `prefix()` is sent before the upstream's events (with the first of them);
    `feed()` sees every batch of events as relayed; `finish()` runs once at the end —
    before the response ends when the stream ran to its end, in a background task
    (janserver.background) when the client went away.
    """

    def prefix(self) -> bytes: ...

    def feed(self, events: bytes) -> None: ...

    async def finish(self, outcome: StreamOutcome) -> None: ...


def stream_response(
    opened: upstream.OpenStream,
    payload: InferenceRequest,
    account: Accounting,
    route: Route,
    observer: StreamObserver | None = None,
) -> PumpedResponse:
    """The SSE response relaying an opened upstream stream."""
    relayed = _Relayed(opened, payload, account, route, observer)
    return PumpedResponse(
        relayed.pump, content_type="text/event-stream", headers=SSE_HEADERS
    )


@dataclass(slots=True)
class _Relayed:
    opened: upstream.OpenStream
    payload: InferenceRequest
    account: Accounting
    route: Route
    observer: StreamObserver | None

    def on_events(self, events: bytes) -> None:
        self.account.first_sent()
        if self.observer is not None:
            self.observer.feed(events)

    async def pump(self, write: Write) -> None:
        state = StreamState(strip_usage=not self.payload.wants_usage)
        metrics.stream_started(self.payload.model, self.route.provider_name)
        disconnected = True
        prefix = self.observer.prefix() if self.observer is not None else b""
        try:
            await relay(self.opened.read, state, write, self.on_events, prefix)
            disconnected = False
        finally:
            await self.opened.aclose()
            await self._finish(state, disconnected)

    async def _finish(self, state: StreamState, disconnected: bool) -> None:
        metrics.stream_finished(self.payload.model, self.route.provider_name)
        if state.error is not None and not disconnected:
            kind = (
                "timeout" if isinstance(state.error, UpstreamTimeout) else "disconnect"
            )
            metrics.upstream_error(self.route.provider_name, kind)
        status = (
            UsageStatus.DISCONNECTED
            if disconnected
            else UsageStatus.UPSTREAM_ERROR
            if state.error
            else UsageStatus.OK
        )
        self.account.finish(
            status=status,
            http_status=200,
            usage_data=state.usage,
            completion_tokens_seen=state.completion_tokens_seen,
            disconnected=disconnected,
        )
        if self.observer is not None:
            outcome = StreamOutcome(state=state, disconnected=disconnected)
            if disconnected:
                background.spawn(self.observer.finish(outcome), name="stream-finish")
            else:
                await self.observer.finish(outcome)
