"""Redis stopped under a running gateway (a private redis-server of the test's own, on
its own port): what needs it (the login throttle, background responses' event buffer)
answers 503 with Retry-After, everything else is served, a background response already
running still ends and is stored, and all of it works again once Redis is back."""

import json

import pytest

from conversations.models import Response
from inference.testing.fixtures import MODEL
from janserver.tests.faults.processes import redis_server
from janserver.tests.faults.support import (
    assert_unavailable,
    chat_body,
    database_url,
    get,
    post,
    requires_redis_server,
    sse_data,
    wait_until,
)
from janserver.tests.live_server import free_port

pytestmark = pytest.mark.server

BACKGROUND = {"model": MODEL, "input": "Hello", "background": True}


@pytest.fixture
def redis(tmp_path):
    requires_redis_server()
    service = redis_server(free_port(), tmp_path)
    yield service.start()
    service.stop()


def served_without_redis(base: str, headers: dict) -> list:
    return [
        post(f"{base}/v1/chat/completions", chat_body(stream=True), headers=headers),
        post(
            f"{base}/v1/conv/chat/completions", chat_body(store=True), headers=headers
        ),
        post(f"{base}/v1/responses", {"model": MODEL, "input": "Hi"}, headers=headers),
        get(f"{base}/v1/conversations", headers=headers),
    ]


def test_a_stopped_redis_answers_503_where_needed_and_recovers(redis, tenant, gateway):
    key = tenant()
    redis_url = f"redis://127.0.0.1:{redis.port}/0"
    with gateway(database_url(), REDIS_URL=redis_url) as gw:
        base = gw.base_url
        assert post(f"{base}/v1/auth/guest-login", {}).status_code == 200
        running = post(
            f"{base}/v1/responses",
            {**BACKGROUND, "fake": {"tokens": 40, "delay_ms": 50}},
            headers=key.headers,
        )
        assert running.status_code == 200

        redis.stop()
        assert_unavailable(post(f"{base}/v1/auth/guest-login", {}), "redis")
        stored_before = Response.objects.count()
        refused = post(f"{base}/v1/responses", BACKGROUND, headers=key.headers)
        assert_unavailable(refused, "redis")
        assert Response.objects.count() == stored_before  # refused before storing
        for response in served_without_redis(base, key.headers):
            assert response.status_code == 200, response.text

        # The run that lost its buffer still ends, and its end is stored.
        def finished() -> bool:
            url = f"{base}/v1/responses/{running.json()['id']}"
            return get(url, headers=key.headers).json()["status"] == "completed"

        wait_until(finished, "completed")

        redis.start()
        assert post(f"{base}/v1/auth/guest-login", {}).status_code == 200
        again = post(f"{base}/v1/responses", BACKGROUND, headers=key.headers)
        assert again.status_code == 200, again.text
        resumed = get(
            f"{base}/v1/responses/{again.json()['id']}?stream=true&starting_after=0",
            headers=key.headers,
        )
        assert resumed.status_code == 200
        last = json.loads(sse_data(resumed.content)[-1])
        assert (last["type"], last["response"]["status"]) == (
            "response.completed",
            "completed",
        )
