"""ASGI edge in front of Django: request id, a body cap that chunked uploads cannot skip,
a deadline for the body to arrive, and URLs a database could not look up refused."""

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

from janserver import auth_cache
from janserver.errors import APIError, InvalidRequest, RequestTimeout, RequestTooLarge
from janserver.ids import new_request_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


class RequestBoundary:
    """Read the whole body (at most the configured cap) before Django sees the request.

    Django and DRF trust Content-Length; a chunked body has none, so DRF would read it as
    empty and Django would spool an unbounded one to disk. Here the body is buffered up to
    the cap, a correct Content-Length is set, and anything larger is answered with 413.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["request_id"] = new_request_id()
        auth_cache.ensure_listener()
        if "\x00" in scope["path"]:
            # An id with a NUL in it cannot be looked up (PostgreSQL refuses the query).
            await _send_error(scope, send, InvalidRequest(_NUL_IN_PATH))
            return
        cap: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _declared_length(scope)
        if cap is not None and declared is not None and declared > cap:
            await _send_error(scope, send, _too_large(cap))
            return
        try:
            # A body that trickles in would hold its request (and the server's slot)
            # for as long as the client likes.
            async with asyncio.timeout(settings.REQUEST_BODY_TIMEOUT_SECONDS):
                body, disconnected = await _read_body(receive, cap)
        except TimeoutError:
            await _send_error(scope, send, RequestTimeout())
            return
        if body is None:
            await _send_error(scope, send, _too_large(cap))
            return
        if declared is None and body:
            scope["headers"] = [
                *[
                    (k, v)
                    for k, v in scope["headers"]
                    if k.lower() != b"transfer-encoding"
                ],
                (b"content-length", str(len(body)).encode()),
            ]
        await self.app(scope, _replay(body, disconnected, receive), send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _read_body(receive: Receive, cap: int | None) -> tuple[bytes | None, bool]:
    """Return (body, client_disconnected); body is None when it exceeds the cap."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if cap is not None and size > cap:
            return None, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if disconnected:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_NUL_IN_PATH = "The URL path must not contain NUL characters (%00)."


def _too_large(cap: int | None) -> RequestTooLarge:
    return RequestTooLarge(f"The request body is larger than {cap} bytes.")


async def _send_error(scope: Scope, send: Send, error: APIError) -> None:
    payload = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", scope["request_id"].encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
