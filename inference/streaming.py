"""SSE relay: forward upstream events as they arrive, reading a side copy on the way.

The bytes of ordinary events are forwarded untouched, in the batches they arrive in.
The side copy only looks for what the gateway needs: the usage event (stripped when
the client did not ask for usage), `[DONE]`, error events and garbage.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from janserver.errors import APIError, UpstreamError
from janserver.http.pumped import Write

HEARTBEAT = b": keep-alive\n\n"
DONE = b"data: [DONE]"
_DATA_OBJECT = (b"data: {", b"data:{")
_OTHER_FIELDS = (b":", b"event:", b"id:", b"retry:")


def well_formed(event: bytes) -> bool:
    """A cheap shape check of one event (a full JSON parse per event would cost too much)."""
    if event.startswith(_DATA_OBJECT):
        return event.endswith(b"}")
    return event.startswith(DONE) or event.startswith(_OTHER_FIELDS)


def first_event_valid(chunk: bytes) -> bool:
    """Check the first event of a stream fully (once per stream, before answering 200)."""
    if b"\n\n" not in chunk:  # the first event is still incomplete: judged later
        return chunk.startswith((b"data:", *_OTHER_FIELDS))
    event = chunk.split(b"\n\n", 1)[0]
    if event.startswith(_DATA_OBJECT):
        return _json(event) is not None
    return event.startswith(_OTHER_FIELDS)


def error_event(error: APIError) -> bytes:
    """The one SSE event that reports an error after the stream started."""
    return b"data: " + json.dumps(error.body()).encode() + b"\n\n"


@dataclass
class StreamState:
    """What the side copy learned from the upstream's events."""

    strip_usage: bool
    usage: dict[str, Any] | None = None
    done: bool = False
    delivered: bool = False  # the events up to `[DONE]` were written to the client
    error: APIError | None = None
    data_events: int = 0
    first_data_at: float | None = None
    _tail: bytes = field(default=b"", repr=False)

    @property
    def completion_tokens_seen(self) -> int:
        """Events relayed, a floor for completion tokens when no usage arrived."""
        return max(0, self.data_events - 1)

    def feed(self, chunk: bytes) -> bytes:
        """Take upstream bytes; return the complete events to forward (maybe empty)."""
        data = self._tail + chunk if self._tail else chunk
        if data.endswith(b"\n\n"):  # the usual case: whole events
            complete, self._tail = data, b""
        else:
            end = data.rfind(b"\n\n")
            if end < 0:
                self._tail = data
                return b""
            complete, self._tail = data[: end + 2], data[end + 2 :]
        count = complete.count(b"\n\n")
        self.data_events += count
        if _notable(complete):
            return self._inspect(complete.split(b"\n\n")[:-1])
        if _all_data_objects(complete, count):
            return complete
        if not all(well_formed(event) for event in complete.split(b"\n\n")[:-1]):
            self.error = UpstreamError("The model server sent an invalid event.")
            return b""
        if DONE in complete:
            self.done = True
        return complete

    def _inspect(self, events: list[bytes]) -> bytes:
        kept = []
        for event in events:
            if not well_formed(event):
                self.error = UpstreamError("The model server sent an invalid event.")
                break
            if event.startswith(_DATA_OBJECT) and _notable(event):
                payload = _json(event)
                if payload is None:
                    self.error = UpstreamError(
                        "The model server sent an invalid event."
                    )
                    break
                if "error" in payload and "choices" not in payload:
                    self.error = UpstreamError(
                        "The model server failed while generating."
                    )
                    break
                if payload.get("usage"):
                    self.usage = payload["usage"]
                    if self.strip_usage and not payload.get("choices"):
                        continue
            elif event.startswith(DONE):
                self.done = True
            kept.append(event + b"\n\n")
        return b"".join(kept)


def _all_data_objects(complete: bytes, count: int) -> bool:
    """Whether all `count` events are one-line `data: {…}` events (the usual stream),
    checked over the whole batch at once. A raw blank line cannot occur inside JSON,
    so every event boundary is a "\\n\\n"."""
    return (
        complete.startswith(b"data: {")
        and complete.count(b"}\n\n") == count
        and complete.count(b"\n\ndata: {") == count - 1
        and complete.count(b"\n") == 2 * count
    )


def _notable(data: bytes) -> bool:
    """Whether events may hold usage or an error (only those are parsed)."""
    return b'"usage":{' in data or b'"usage": {' in data or b'"error"' in data


def _json(event: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(event[5:])
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


# relay() reads with read(wait): the next bytes, b"" at the end, or None when nothing
# came within `wait` seconds (time for a heartbeat); failures raise APIError.
Read = Callable[[float], Awaitable[bytes | None]]


class Sink(Protocol):
    """Where relay() delivers a stream: to a client (SSEWriter), or into Responses
    events (conversations.responses.runner)."""

    def events(self, events: bytes) -> Awaitable[None]:
        """Take a batch of complete events, as the client should see them."""

    def idle(self) -> Awaitable[None]:
        """Nothing came for a heartbeat interval."""


async def relay(read: Read, state: StreamState, sink: Sink) -> None:
    """Deliver the upstream's events to `sink` as they arrive, until `[DONE]`, an
    error or the end of the stream: the one relay loop of every endpoint.

    On return `state.error` tells how it ended (None: `[DONE]` was reached). The
    caller closes the upstream when this returns or raises (also when cancelled).
    """
    heartbeat = settings.SSE_HEARTBEAT_SECONDS
    while True:
        try:
            chunk = await read(heartbeat)
        except APIError as error:
            state.error = error
            break
        if chunk is None:
            await sink.idle()
            continue
        if not chunk:
            break
        out = state.feed(chunk)
        if out:
            await sink.events(out)
            if state.done:
                state.delivered = True
        if state.error is not None:
            break
    if state.error is None and not state.done:
        state.error = UpstreamError("The model server closed the stream early.")


class SSEWriter:
    """A Sink writing a chat stream to the client: relayed events, heartbeats, and
    after relay() one error event if it failed (end()).

    `on_events` sees each batch of events before it is written. `prefix` goes out
    with the first write (one send less than writing it alone: the upstream's first
    bytes are already here when the relay starts).
    """

    __slots__ = ("on_events", "prefix", "write")

    def __init__(
        self,
        write: Write,
        on_events: Callable[[bytes], None] | None = None,
        prefix: bytes = b"",
    ) -> None:
        self.write = write
        self.on_events = on_events
        self.prefix = prefix

    # Plain methods returning write()'s awaitable: no coroutine of their own per chunk.
    def events(self, events: bytes) -> Awaitable[None]:
        if self.on_events is not None:
            self.on_events(events)
        if self.prefix:
            events, self.prefix = self.prefix + events, b""
        return self.write(events)

    def idle(self) -> Awaitable[None]:
        beat, self.prefix = self.prefix + HEARTBEAT, b""
        return self.write(beat)

    async def end(self, state: StreamState) -> None:
        """Report a failed stream with one error event (no `[DONE]` follows)."""
        if state.error is not None:
            await self.write(self.prefix + error_event(state.error))
            self.prefix = b""


class ClosingSSEWriter(SSEWriter):
    """An SSEWriter that sends `closing()`'s events once, just before the stream's
    `[DONE]` (for a last chunk of the gateway's own: a stream that fails has none).

    `on_events` sees the batch before `closing()` is called, so that it can build on
    what the batch held.
    """

    __slots__ = ("closing",)

    def __init__(
        self,
        write: Write,
        on_events: Callable[[bytes], None] | None,
        prefix: bytes,
        closing: Callable[[], bytes],
    ) -> None:
        super().__init__(write, on_events, prefix)
        self.closing: Callable[[], bytes] | None = closing

    def events(self, events: bytes) -> Awaitable[None]:
        if self.on_events is not None:
            self.on_events(events)
        if self.closing is not None:
            at = done_at(events)
            if at >= 0:
                closing, self.closing = self.closing, None
                events = events[:at] + closing() + events[at:]
        if self.prefix:
            events, self.prefix = self.prefix + events, b""
        return self.write(events)


def done_at(events: bytes) -> int:
    """Where the `[DONE]` event starts in a batch of whole events, or -1 (a JSON
    string holding the same text is on a line of its own, never at an event start)."""
    at = events.find(DONE)
    while at > 0 and events[at - 2 : at] != b"\n\n":
        at = events.find(DONE, at + 1)
    return at
