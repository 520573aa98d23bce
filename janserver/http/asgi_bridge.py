"""Serve a request with another ASGI application from inside a Django async view.

The view has authenticated the request and passed Django's middleware (request id,
access log, CORS, the error contract); the mounted application (the MCP SDK's
streamable HTTP transport) then answers it. Its answer becomes an HttpResponse when it
sends its body in one part, or a PumpedResponse that relays its parts as they come (an
SSE stream). The request body, already read whole by the boundary, is handed over
once; after that `receive` waits until the request ends. When the client goes away
Django cancels the view or its pump: the application's task is cancelled then, and the
event in `scope[DISCONNECTED]` is set first, so that work the application started
elsewhere (a tool call in an MCP session's task) can be abandoned too.
"""

import asyncio
import contextlib
from collections.abc import MutableMapping
from typing import Any

from django.http import HttpResponse, HttpResponseBase

from janserver.http.boundary import ASGIApp, Message
from janserver.http.pumped import PumpedResponse, Write

DISCONNECTED = "janserver.disconnected"
# Hop-by-hop and framing headers: Django's handler and the ASGI server set their own.
_SKIPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class NoResponse(RuntimeError):
    """The application ended without answering."""


class _Exchange:
    """One request to the mounted application, and the messages it sends back."""

    def __init__(
        self, app: ASGIApp, scope: MutableMapping[str, Any], body: bytes
    ) -> None:
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        scope[DISCONNECTED] = self.disconnected
        self._body: bytes | None = body
        self.task = asyncio.ensure_future(app(scope, self._receive, self.messages.put))

    async def _receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # until cancelled: the request has no more body
        return {"type": "http.disconnect"}

    async def next(self) -> Message:
        """The next message the application sends; NoResponse if it ends first."""
        if not self.messages.empty():
            return self.messages.get_nowait()
        getter = asyncio.ensure_future(self.messages.get())
        try:
            await asyncio.wait({getter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        self.task.result()  # raises what the application raised
        raise NoResponse("the mounted application ended without a response")

    async def abandon(self) -> None:
        """The client is gone (or the answer failed): stop the application."""
        if self.task.done():
            return
        self.disconnected.set()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


def _headers(start: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in start.get("headers", ()):
        key = name.decode("latin-1")
        if key.lower() not in _SKIPPED_HEADERS:
            headers[key] = value.decode("latin-1")
    return headers


async def asgi_response(
    app: ASGIApp, scope: MutableMapping[str, Any], body: bytes
) -> HttpResponseBase:
    """Let `app` answer the request of `scope` (with `body`); return Django's response."""
    exchange = _Exchange(app, scope, body)
    try:
        start = await exchange.next()
        first = await exchange.next()
    except BaseException:
        await exchange.abandon()
        raise
    headers = _headers(start)
    content_type = headers.pop("content-type", headers.pop("Content-Type", None))
    if not first.get("more_body", False):
        await exchange.task
        return HttpResponse(
            first.get("body", b""),
            status=start["status"],
            headers=headers,
            content_type=content_type,
        )

    async def pump(write: Write) -> None:
        try:
            message = first
            while True:
                if message.get("body"):
                    await write(message["body"])
                if not message.get("more_body", False):
                    break
                message = await exchange.next()
            await exchange.task
        finally:
            await exchange.abandon()

    return PumpedResponse(
        pump, status=start["status"], headers=headers, content_type=content_type
    )
