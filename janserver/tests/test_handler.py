"""janserver's ASGI handler, called as an ASGI server would, with a fake scope, receive
and send: async views served in the event loop, everything else by Django."""

import asyncio
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_finished

from janserver.http.handler import JanserverASGIHandler
from janserver.tests import urls_handler

pytestmark = pytest.mark.urls("janserver.tests.urls_handler")


def http_scope(path: str, method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "request_id": "req_test",
    }


async def call(path: str, *, disconnect_after_parts: int | None = None) -> list[dict]:
    """Serve one request; the client goes away once it has received
    `disconnect_after_parts` parts of the body (never, if None)."""
    sent: list[dict] = []
    requested = False
    enough = asyncio.Event()

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await enough.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)
        parts = sum(m["type"] == "http.response.body" for m in sent)
        if disconnect_after_parts is not None and parts >= disconnect_after_parts:
            enough.set()

    await JanserverASGIHandler()(http_scope(path), receive, send)
    return sent


@pytest.fixture
def finished_signals():
    received = []

    def receiver(**kwargs: Any) -> None:
        received.append(kwargs)

    request_finished.connect(receiver)
    yield received
    request_finished.disconnect(receiver)


async def test_an_async_view_is_served_in_the_loop_without_djangos_handle(
    monkeypatch, finished_signals
):
    """No ASGIHandler.handle() (its thread hops), no request_finished signal."""

    async def refuse(*args: Any) -> None:
        raise AssertionError("Django's handle() served an async view")

    monkeypatch.setattr(ASGIHandler, "handle", refuse)
    sent = await call("/v1/version")
    assert sent[0]["status"] == 200
    assert b'"version"' in sent[1]["body"]
    assert finished_signals == []


async def test_a_pumped_response_is_written_straight_to_send():
    sent = await call("/test/pumped")
    assert sent[0]["type"] == "http.response.start"
    assert (b"Content-Type", b"text/event-stream") in sent[0]["headers"]
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [
        (b"data: 1\n\n", True),
        (b"data: 2\n\n", True),
        (b"", False),
    ]


async def test_a_client_going_away_cancels_the_pump():
    urls_handler.seen.clear()
    sent = await call("/test/endless", disconnect_after_parts=3)
    assert urls_handler.seen == ["cancelled"]
    assert sent[0]["status"] == 200
    assert all(m["more_body"] for m in sent[1:])  # no end: the client is gone


async def test_sync_views_and_unknown_paths_go_through_django(finished_signals):
    plain = await call("/test/plain")
    assert (plain[0]["status"], plain[1]["body"]) == (200, b"sync")
    missing = await call("/nowhere")
    assert missing[0]["status"] == 404
    assert b'"not_found"' in missing[1]["body"]
    assert len(finished_signals) == 2  # Django's own handling, signals included


@pytest.mark.parametrize("debug", [False, True])
def test_cached_matches_keep_the_patterns_tried_only_in_debug(settings, debug):
    """A cached match of an async view drops the patterns tried before it (two
    thirds of its memory; only DEBUG's 404 page shows them), and still serves."""
    settings.DEBUG = debug
    handler = JanserverASGIHandler()
    assert handler._is_async_view("/v1/version")
    match = handler.resolve_request(type("Request", (), {"path_info": "/v1/version"}))
    assert match.url_name == "version"
    assert (match.tried is not None) == debug
