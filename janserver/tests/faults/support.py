"""Helpers of the fault suite: the test database's URL for another process, skips,
request helpers with hang guards."""

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.db import connection

from inference.testing.fixtures import MODEL


def database_url(host: str | None = None, port: int | None = None) -> str:
    """The URL of this test's database, for a gateway in another process (through
    host:port when given: a proxy)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    assert connection.vendor == "postgresql"
    user = quote(settings["USER"] or "")
    password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    host = host or settings["HOST"] or "127.0.0.1"
    port = port or int(settings["PORT"] or 5432)
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def requires_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "the database outage is injected between the gateway and PostgreSQL "
            "(DATABASE_URL=postgres://…, as in CI); this run uses SQLite"
        )


def requires_redis_server() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (CI installs it)")


@dataclass
class Tenant:
    """A project key on a provider of the model MODEL."""

    secret: str
    project: Any
    provider: Any

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def chat_body(*, stream: bool = False, tokens: int = 4, **fields: Any) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello"}],
        "stream": stream,
        "fake": {"tokens": tokens, **fields.pop("fake", {})},
        **fields,
    }


def gateway_log(tmp_path: Path) -> str:
    return (tmp_path / "gateway.log").read_text(errors="replace")


def get(url: str, **kwargs: Any) -> httpx.Response:
    """A request with a hang guard: an outage must answer, not hang."""
    return httpx.get(url, timeout=30, **kwargs)


def post(url: str, body: dict, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, json=body, timeout=30, **kwargs)


UNAVAILABLE_BODIES = {
    "database": "The database is unavailable. Retry shortly.",
    "redis": "The shared cache is unavailable. Retry shortly.",
}


def assert_unavailable(response: httpx.Response, service: str) -> None:
    """The documented outage answer: 503, Retry-After, OpenAI's error shape."""
    assert (response.status_code, response.headers.get("Retry-After")) == (503, "5")
    assert response.json() == {
        "error": {
            "message": UNAVAILABLE_BODIES[service],
            "type": "server_error",
            "param": None,
            "code": "service_unavailable",
        }
    }


def sse_data(body: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order (comments left out)."""
    return [
        line[len("data: ") :]
        for event in body.decode().split("\n\n")
        for line in event.split("\n")
        if line.startswith("data: ")
    ]


POLL_SECONDS = 0.05


def wait_until(condition: Any, what: str, seconds: float = 30) -> None:
    """Poll `condition()` until true, at most `seconds / POLL_SECONDS` times (a hang
    guard only: the test asserts the outcome, never how long it took)."""
    for _ in range(int(seconds / POLL_SECONDS)):
        if condition():
            return
        time.sleep(POLL_SECONDS)
    if not condition():
        raise AssertionError(f"never {what} (polled {seconds} s)")


def chat_stream_text(events: list[str]) -> str:
    """The content of a chat stream's chunks (the error event and [DONE] left out)."""
    text = []
    for event in events:
        if event.startswith("{"):
            for choice in json.loads(event).get("choices", []):
                text.append(choice.get("delta", {}).get("content") or "")
    return "".join(text)
