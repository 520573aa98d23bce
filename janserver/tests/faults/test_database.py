"""PostgreSQL made unreachable under a running gateway (a TCP proxy cut between them):
503 with Retry-After while it is away, streams already running finish, usage rows
wait in memory, and everything recovers when it returns, without a restart."""

import httpx
import pytest
from django.db import connection

from inference.models import UsageRecord
from inference.testing.fake_vllm_logprobs import fake_text
from janserver.tests.faults.proxy import BLACKHOLE, REFUSE, TcpProxy
from janserver.tests.faults.support import (
    assert_unavailable,
    chat_body,
    chat_stream_text,
    database_url,
    get,
    post,
    requires_postgresql,
    sse_data,
    wait_until,
)

pytestmark = pytest.mark.server

UNKNOWN_KEY = {"Authorization": "Bearer sk-project_" + "x" * 40}
# Waits the outage bounds: shorter than the defaults (2 s, 3 s), for a faster suite.
FAST_TIMEOUTS = {"DATABASE_CONNECT_TIMEOUT": "1", "DATABASE_POOL_TIMEOUT": "1"}


@pytest.fixture
def proxy():
    requires_postgresql()
    settings = connection.settings_dict
    with TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)) as p:
        yield p


def requests_needing_the_database(base: str, headers: dict) -> list[httpx.Response]:
    return [
        get(f"{base}/v1/conversations", headers=headers),
        get(f"{base}/v1/models", headers=UNKNOWN_KEY),
        post(f"{base}/v1/chat/completions", chat_body(stream=True), headers=headers),
        post(
            f"{base}/v1/conv/chat/completions", chat_body(store=True), headers=headers
        ),
        post(
            f"{base}/v1/responses",
            {"model": "jan-v1-4b", "input": "Hi"},
            headers=headers,
        ),
    ]


def ready(base: str) -> bool:
    return get(f"{base}/readyz").status_code == 200


def usage_request_ids() -> list[str]:
    return sorted(UsageRecord.objects.values_list("request_id", flat=True))


@pytest.mark.parametrize("mode", [REFUSE, BLACKHOLE])
def test_an_unreachable_database_answers_503_and_recovers_without_a_restart(
    proxy, tenant, gateway, mode
):
    """Refused (the server is down) or swallowed (new connections never answered):
    every request that needs the database gets the 503 within the connect and pool
    timeouts; a stream authenticated before finishes; nothing is lost once it is back."""
    key = tenant()
    served: list[str] = []  # request ids that must leave exactly one usage row
    with gateway(database_url("127.0.0.1", proxy.port), **FAST_TIMEOUTS) as gw:
        base = gw.base_url
        warm = post(f"{base}/v1/chat/completions", chat_body(), headers=key.headers)
        assert warm.status_code == 200
        served.append(warm.headers["X-Request-ID"])
        body = chat_body(stream=True, tokens=20, fake={"delay_ms": 50})
        with httpx.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json=body,
            headers=key.headers,
            timeout=30,
        ) as stream:
            assert stream.status_code == 200
            chunks = stream.iter_raw()
            first = next(chunks)
            proxy.cut(mode)
            events = sse_data(first + b"".join(chunks))
        assert chat_stream_text(events) == fake_text(20)
        assert events[-1] == "[DONE]"
        served.append(stream.headers["X-Request-ID"])

        for response in requests_needing_the_database(base, key.headers):
            assert_unavailable(response, "database")
        unready = get(f"{base}/readyz")
        assert (unready.status_code, unready.json()["failed_check"]) == (
            503,
            "database",
        )
        assert get(f"{base}/healthcheck").status_code == 200  # liveness needs nothing

        proxy.restore()
        wait_until(lambda: ready(base), "ready again")
        for response in requests_needing_the_database(base, key.headers)[2:]:
            assert response.status_code == 200, response.text
            served.append(response.headers["X-Request-ID"])
        wait_until(lambda: len(usage_request_ids()) >= len(served), "written")
    # Refused requests never reached accounting; each served one has one row.
    assert usage_request_ids() == sorted(served)


def test_connections_pooled_before_a_database_restart_are_not_handed_out(
    proxy, tenant, gateway
):
    """The database restarts while the pool holds idle connections and no request
    comes: the first requests after it are served, none meets a dead connection."""
    key = tenant()
    url = database_url("127.0.0.1", proxy.port)
    with gateway(url, DATABASE_POOL_MIN_SIZE="4", **FAST_TIMEOUTS) as gw:
        # The pool opens on first use, then fills up to its minimum in the background.
        assert get(f"{gw.base_url}/v1/conversations", headers=key.headers).is_success
        wait_until(lambda: proxy.open_connections >= 4, "pooled")
        proxy.cut()
        proxy.restore()
        for _ in range(6):
            response = get(f"{gw.base_url}/v1/conversations", headers=key.headers)
            assert response.status_code == 200, response.text
