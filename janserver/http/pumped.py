"""A streaming response that writes straight to the ASGI `send`, for relayed streams.

Django sends a StreamingHttpResponse by iterating it through several async generator
layers (`__aiter__`, the `streaming_content` wrapper, `chunk_bytes`) and one ASGI
message per part. A relay of thousands of small events per second pays for each layer
per event, so a PumpedResponse instead holds a *pump*: a coroutine function that is
given `write(data)` and writes the body itself. janserver's ASGI handler
(janserver/handler.py) calls the pump with a `write` bound to the ASGI `send`. Any
other handler (Django's test clients) iterates the response as usual: the pump then
runs in a task that feeds the iteration.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from django.http import StreamingHttpResponse

Write = Callable[[bytes], Awaitable[None]]
Pump = Callable[[Write], Awaitable[None]]

_END = object()


class PumpedResponse(StreamingHttpResponse):
    """See the module docstring."""

    def __init__(self, pump: Pump, **kwargs: Any) -> None:
        super().__init__(_iterate(pump), **kwargs)
        self.pump = pump


async def _iterate(pump: Pump) -> AsyncIterator[bytes]:
    """Run `pump` in a task and yield what it writes (one part at a time)."""
    parts: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

    async def run() -> None:
        try:
            await pump(parts.put)
        finally:
            await parts.put(_END)

    task = asyncio.get_running_loop().create_task(run())
    try:
        while (part := await parts.get()) is not _END:
            yield part
        await task  # raises what the pump raised
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def response_headers(response: StreamingHttpResponse) -> list[tuple[bytes, bytes]]:
    """The ASGI headers of a response, cookies included (as Django's handler does)."""
    headers = [
        (name.encode("ascii"), value.encode("latin1"))
        for name, value in response.items()
    ]
    headers.extend(
        (b"Set-Cookie", cookie.output(header="").encode("ascii").strip())
        for cookie in response.cookies.values()
    )
    return headers


async def send_pumped(response: PumpedResponse, send: Any) -> None:
    """Send a PumpedResponse over ASGI: the start, what the pump writes, the end."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response_headers(response),
        }
    )

    async def write(data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    await response.pump(write)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_stream(
    pump: Pump, headers: Mapping[str, str] | None = None
) -> PumpedResponse:
    """A `text/event-stream` response written by `pump` (never cached or buffered)."""
    return PumpedResponse(
        pump,
        content_type="text/event-stream",
        headers={**SSE_HEADERS, **(headers or {})},
    )
