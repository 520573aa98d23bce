"""Two gateway processes sharing one Redis enforce one limit: of 50 concurrent
requests against 10 requests per minute, exactly 10 are admitted."""

import json
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from inference.testing.fixtures import MODEL
from janserver.tests.live_server import (
    free_port,
    manage,
    running_server,
    server_env,
    uvicorn_command,
)

pytestmark = pytest.mark.server

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
def shared_redis() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_gateways_admit_exactly_the_limit(
    tmp_path, migrated_sqlite, fake, shared_redis
):
    env = server_env(
        f"sqlite:///{migrated_sqlite}",
        REDIS_URL=shared_redis,
        # This test's own counters in the shared Redis.
        RATE_LIMIT_KEY_PREFIX=f"janserver:rl:test-{secrets.token_hex(6)}:",
    )
    secret = _ok(
        manage(
            env,
            *[
                "createapikey",
                "--kind",
                "project",
                "--org",
                "default",
                "--owner",
                "a@x.io",
            ],
        )
    ).strip()
    [key] = json.loads(_ok(manage(env, "listapikeys", "--json")))
    _ok(manage(env, "addprovider", "Fake", "--base-url", fake.base_url))
    _ok(manage(env, "ratelimit", "set", "--key", key["id"], "--rpm", "10"))

    ports = [free_port(), free_port()]
    with (
        running_server(uvicorn_command(ports[0]), env, ports[0]) as first,
        running_server(uvicorn_command(ports[1]), env, ports[1]) as second,
    ):
        body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}

        def call(index: int) -> int:
            url = (first, second)[index % 2] + "/v1/chat/completions"
            answer = httpx.post(
                url,
                json=body,
                headers={"Authorization": f"Bearer {secret}"},
                timeout=60,
            )
            return answer.status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(call, range(50)))
    assert sorted(statuses) == [200] * 10 + [429] * 40
