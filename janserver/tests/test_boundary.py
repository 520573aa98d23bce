"""The request boundary, called as an ASGI server would, with a fake scope, receive and send."""

import asyncio
import json
from typing import Any

import pytest

from janserver.http.boundary import RequestBoundary


class Inner:
    """The app behind the boundary: records the scope and every message it receives."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        self.received.append(await receive())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def http_scope(path: str = "/v1/models", headers=()) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": list(headers),
    }


async def call(scope, messages) -> tuple[Inner, list[dict[str, Any]]]:
    inner = Inner()
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await RequestBoundary(inner)(scope, receive, send)
    return inner, sent


def chunk(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def error_of(sent) -> tuple[int, dict[str, Any]]:
    assert sent[0]["type"] == "http.response.start"
    return sent[0]["status"], json.loads(sent[1]["body"])["error"]


@pytest.fixture(autouse=True)
def _small_cap(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10


async def test_a_chunked_body_reaches_django_whole_with_its_length():
    """Django trusts Content-Length: the boundary buffers and declares it."""
    scope = http_scope(headers=[(b"transfer-encoding", b"chunked")])
    inner, sent = await call(scope, [chunk(b"12345", True), chunk(b"678", False)])
    assert inner.received == [chunk(b"12345678", False)]
    assert inner.scope is not None
    assert inner.scope["headers"] == [(b"content-length", b"8")]
    assert inner.scope["request_id"].startswith("req_")
    assert sent[0]["status"] == 204


@pytest.mark.parametrize(
    ("headers", "messages"),
    [
        ([(b"content-length", b"11")], [chunk(b"x" * 11, False)]),
        ([], [chunk(b"x" * 6, True), chunk(b"x" * 6, False)]),
    ],
    ids=["declared", "chunked"],
)
async def test_a_body_over_the_cap_is_413_and_never_reaches_django(headers, messages):
    inner, sent = await call(http_scope(headers=headers), messages)
    assert inner.scope is None
    assert error_of(sent) == (
        413,
        {
            "message": "The request body is larger than 10 bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        },
    )


async def test_a_client_gone_while_sending_is_a_disconnect_for_django():
    inner, _sent = await call(http_scope(), [chunk(b"12", True)])
    assert inner.received == [{"type": "http.disconnect"}]


async def test_a_nul_in_the_path_is_400_before_any_lookup():
    """PostgreSQL cannot look up an id holding NUL: refused at the edge."""
    inner, sent = await call(http_scope("/v1/conversations/conv_\x00"), [])
    assert inner.scope is None
    assert error_of(sent) == (
        400,
        {
            "message": "The URL path must not contain NUL characters (%00).",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_value",
        },
    )


async def test_other_protocols_pass_through():
    inner = Inner()
    scope = {"type": "lifespan"}

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        pass

    await RequestBoundary(inner)(scope, receive, send)
    assert inner.scope is scope


async def test_a_body_that_trickles_past_the_deadline_is_408(settings):
    settings.REQUEST_BODY_TIMEOUT_SECONDS = 0.05
    inner = Inner()
    sent: list[dict[str, Any]] = []

    async def receive():
        await asyncio.sleep(3600)  # the next chunk never comes

    async def send(message):
        sent.append(message)

    await RequestBoundary(inner)(http_scope(), receive, send)
    assert inner.scope is None
    assert error_of(sent) == (
        408,
        {
            "message": "The request body did not arrive in time.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_timeout",
        },
    )
