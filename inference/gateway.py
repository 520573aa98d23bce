"""The service behind /v1/chat/completions and /v1/completions.

Parse, look the model up, admit the request under its rate limits, open the upstream
request (inference.pipeline), then relay:
a stream event by event (the pump of the Answer), or a whole JSON answer.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from inference import metrics, pipeline, upstream
from inference.accounting import Accounting
from inference.catalog import Route
from inference.models import UsageStatus
from inference.payloads import Endpoint, InferenceRequest, check_context, parse
from inference.pipeline import Call, Opened
from inference.streaming import ClosingSSEWriter, SSEWriter, StreamState, relay
from janserver import background
from janserver.errors import APIError, UpstreamError, UpstreamTimeout
from janserver.http.answers import Answer
from janserver.http.pumped import Pump, Write

logger = logging.getLogger("janserver.gateway")


async def complete(call: Call, endpoint: Endpoint) -> Answer:
    """Serve one chat completion or completion (see the module docstring)."""
    return await respond(call, parse(call.body, endpoint))


async def respond(call: Call, payload: InferenceRequest) -> Answer:
    """Serve one parsed request (see complete())."""
    entry = await pipeline.model_for(call.principal, payload.model)
    check_context(payload, entry.context_length)
    account = await pipeline.admit(call, payload, payload.endpoint.name)
    opened = await pipeline.open_upstream(payload, entry, account)
    if payload.stream:
        return Answer(pump=stream_pump(opened, payload), headers=account.limit_headers)
    body, _data = await read_json(opened.stream, opened.account)
    return Answer(body=body, headers=account.limit_headers)


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


@dataclass
class StreamOutcome:
    """How a relayed stream ended, for a StreamObserver."""

    state: StreamState
    disconnected: bool


class StreamObserver(Protocol):
    """Watches a relayed stream: conversation storage and the like.

    `prefix()` is sent before the upstream's events (with the first of them);
    `suffix()`, unless None, just before the upstream's `[DONE]` (not at all when the
    stream fails); `feed()` sees every batch of events as relayed; `finish()` runs
    once at the end — before the response ends when the stream ran to its end, in a
    background task (janserver.background) when the client went away.
    """

    suffix: Callable[[], bytes] | None

    def prefix(self) -> bytes: ...

    def feed(self, events: bytes) -> None: ...

    async def finish(self, outcome: StreamOutcome) -> None: ...


def stream_pump(
    opened: Opened, payload: InferenceRequest, observer: StreamObserver | None = None
) -> Pump:
    """The pump writing an opened upstream stream to the client (janserver.http.pumped)."""
    relayed = _Relayed(opened.stream, payload, opened.account, opened.route, observer)
    return relayed.pump


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
        observer = self.observer
        writer = (
            SSEWriter(write, self.on_events)
            if observer is None
            else SSEWriter(write, self.on_events, observer.prefix())
            if observer.suffix is None
            else ClosingSSEWriter(
                write, self.on_events, observer.prefix(), observer.suffix
            )
        )
        try:
            await relay(self.opened.read, state, writer)
            await writer.end(state)
            disconnected = False
        finally:
            await self.opened.aclose()
            # A client that leaves once `[DONE]` reached it (the SDKs close at once)
            # got the whole stream: only the upstream's end was still being read.
            await self._finish(
                state, disconnected and not state.delivered, interrupted=disconnected
            )

    async def _finish(
        self, state: StreamState, disconnected: bool, *, interrupted: bool
    ) -> None:
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
            if interrupted:
                background.spawn(self.observer.finish(outcome), name="stream-finish")
            else:
                await self.observer.finish(outcome)
