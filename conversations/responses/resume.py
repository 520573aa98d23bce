"""SSE streams of Responses events: a foreground run's, or a background one's replay."""

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.conf import settings

from conversations.responses import runner
from conversations.responses.buffer import event_buffer
from conversations.responses.events import TERMINAL_TYPES, sse
from inference.streaming import HEARTBEAT
from janserver.errors import InternalError, api_error_from_exception
from janserver.http.pumped import Write

logger = logging.getLogger("janserver.responses")

FINAL_READ_SECONDS = 1.0


def _heartbeat_seconds() -> float:
    return float(settings.SSE_HEARTBEAT_SECONDS)


def _idle_limit() -> float:
    """How long a replay waits without any event before giving up on a runner."""
    return float(settings.RESPONSES_REPLAY_IDLE_SECONDS)


async def run_stream(run: runner.Run, write: Write) -> None:
    """Write a foreground run's events as SSE (heartbeats while the model is silent)."""

    async def emit(event: dict[str, Any] | None) -> None:
        await write(HEARTBEAT if event is None else sse(event))

    await runner.execute(run, emit)


async def replay(
    response_id: str,
    after: int,
    finished: Callable[[], Awaitable[bool]],
    *,
    ended: bool = False,
) -> AsyncIterator[bytes]:
    """Yield a background response's events numbered above `after`, live, until its
    terminal event; stop early if it ended without one reaching the buffer (its
    runner's process died) or nothing came for the idle limit (`ended`: the response
    is known to have ended, only what is buffered is sent). A failure to read the
    buffer (Redis gone) ends the stream with one `error` event."""
    sent = [after]  # the last sequence number sent
    try:
        async for part in _replay(response_id, sent, finished, ended):
            yield part
    except Exception as exc:
        error = api_error_from_exception(exc) or InternalError()
        if isinstance(error, InternalError):
            logger.exception("Replaying the events of %s failed", response_id)
        yield sse(
            {
                "type": "error",
                "code": error.error_code,
                "message": error.message,
                "param": None,
                "sequence_number": sent[0] + 1,
            }
        )


async def _replay(
    response_id: str,
    sent: list[int],
    finished: Callable[[], Awaitable[bool]],
    ended: bool,
) -> AsyncIterator[bytes]:
    events = event_buffer()
    idle_since = time.monotonic()
    wait = FINAL_READ_SECONDS if ended else _heartbeat_seconds()
    while True:
        batch = await events.read(response_id, sent[0], wait)
        for event in batch:
            yield sse(event)
            sent[0] = event["sequence_number"]
            if event["type"] in TERMINAL_TYPES:
                return
        if batch:
            idle_since, wait = time.monotonic(), _heartbeat_seconds()
            continue
        if wait == FINAL_READ_SECONDS:  # ended, and nothing more came: give up
            return
        yield HEARTBEAT
        if time.monotonic() - idle_since > _idle_limit():
            return
        if await finished():
            # Its terminal event may have been published just after the read.
            wait = FINAL_READ_SECONDS
