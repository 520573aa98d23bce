"""Rate limits on a real gateway, called through the openai SDK and raw HTTP: 429s as
OpenAI sends them, headers on every answer, slots released on every exit path."""

import socket
import time

import httpx
import openai
import pytest

from inference import usage
from inference.models import UsageRecord
from inference.testing.fixtures import MODEL, make_provider
from limits.services import rate_limit_set
from orgs.models import ApiKey

pytestmark = pytest.mark.server

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}


def key_of(live) -> ApiKey:
    return ApiKey.objects.get(project=live.project)


def limit_key(live, model: str = "", **limits) -> None:
    key = key_of(live)
    rate_limit_set(
        organization=key.organization, api_key=key, model=model, limits=limits
    )


def test_answers_carry_openais_rate_limit_headers(live):
    limit_key(live, max_requests_per_1_minute=5, max_tokens_per_1_minute=100_000)
    answer = live.post("/v1/chat/completions", {**CHAT, "max_tokens": 16})
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-limit-requests"] == "5"
    assert answer.headers["x-ratelimit-remaining-requests"] == "4"
    assert answer.headers["x-ratelimit-reset-requests"] == "12s"
    assert answer.headers["x-ratelimit-limit-tokens"] == "100000"
    remaining = int(answer.headers["x-ratelimit-remaining-tokens"])
    assert 100_000 - 16 - 100 < remaining < 100_000 - 16
    with httpx.stream(
        "POST",
        f"{live.url}/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers=live.headers,
        timeout=30,
    ) as stream:
        assert stream.headers["x-ratelimit-remaining-requests"] == "3"
        assert b"[DONE]" in stream.read()


def test_no_limit_no_headers(live):
    answer = live.post("/v1/chat/completions", CHAT)
    assert answer.status_code == 200
    assert "x-ratelimit-limit-requests" not in answer.headers


def test_the_request_over_the_limit_gets_openais_429(live):
    limit_key(live, max_requests_per_1_minute=2)
    client = live.openai()
    for _ in range(2):
        client.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(**CHAT)
    error = raised.value
    assert error.code == "rate_limit_exceeded"
    key = key_of(live)
    assert f"in api key {key.public_id} on requests per min (RPM)" in error.message
    assert "Limit 2, Used 2, Requested 1" in error.message
    headers = error.response.headers
    assert 29 <= int(headers["retry-after"]) <= 30
    assert 29_000 <= int(headers["retry-after-ms"]) <= 30_000
    assert headers["x-ratelimit-remaining-requests"] == "0"
    # The refused request reached no upstream and left a usage row.
    usage.flush()
    refused = UsageRecord.objects.filter(http_status=429, api_key=key)
    assert list(refused.values_list("status", flat=True)) == ["rate_limited"]
    assert UsageRecord.objects.filter(http_status=200, api_key=key).count() == 2


def test_a_project_limit_binds_every_key_and_a_model_limit_only_its_model(live):
    make_provider(live.fake.base_url, name="Other", models=("other-model",))
    key = key_of(live)
    rate_limit_set(
        organization=key.organization,
        project=key.project,
        model="other-model",
        limits={"max_requests_per_1_minute": 0},
    )
    assert live.post("/v1/chat/completions", CHAT).status_code == 200
    blocked = live.post("/v1/chat/completions", {**CHAT, "model": "other-model"})
    assert blocked.status_code == 429
    assert "limit is 0" in blocked.json()["error"]["message"]
    assert blocked.headers["x-should-retry"] == "false"


def test_max_tokens_above_the_token_limit_is_refused_at_once(live):
    limit_key(live, max_tokens_per_1_minute=1000)
    fake_requests = live.fake.recorder.total_requests
    answer = live.post("/v1/chat/completions", {**CHAT, "max_tokens": 3000})
    assert answer.status_code == 429
    error = answer.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert "more than the tokens per min (TPM) limit of 1000" in error["message"]
    assert answer.headers["x-should-retry"] == "false"
    assert live.fake.recorder.total_requests == fake_requests
    assert live.post("/v1/chat/completions", {**CHAT, "max_tokens": 500}).is_success


def test_tokens_are_settled_with_the_real_usage(live):
    """A reservation of 900 tokens that used ~20 gives the rest back."""
    limit_key(live, max_tokens_per_1_minute=1000)
    body = {**CHAT, "max_tokens": 900, "fake": {"tokens": 8}}
    assert live.post("/v1/chat/completions", body).status_code == 200
    for _ in range(50):  # settlement is batched off the request's path
        answer = live.post("/v1/chat/completions", body)
        if answer.status_code == 200:
            break
        time.sleep(0.1)
    assert answer.status_code == 200


def _await_admitted(live, body: dict) -> httpx.Response:
    for _ in range(100):  # the slot is released off the request's path
        answer = live.post("/v1/chat/completions", body)
        if answer.status_code != 429:
            return answer
        time.sleep(0.1)
    return answer


def test_a_concurrency_slot_is_freed_when_the_client_goes_away(live):
    limit_key(live, max_concurrent_requests=1)
    held = {**CHAT, "stream": True, "fake": {"tokens": 2000, "delay_ms": 20}}
    with httpx.stream(
        "POST",
        f"{live.url}/v1/chat/completions",
        json=held,
        headers=live.headers,
        timeout=30,
    ) as stream:
        events = stream.iter_raw()  # kept: dropping it would close the stream
        next(events)  # the stream is open and holds the slot
        second = live.post("/v1/chat/completions", CHAT)
        assert second.status_code == 429
        assert (
            "concurrent requests: Limit 1, Used 1" in second.json()["error"]["message"]
        )
        assert second.headers["retry-after"] == "1"
    assert _await_admitted(live, CHAT).status_code == 200


def test_a_concurrency_slot_is_freed_when_the_upstream_fails(live):
    limit_key(live, max_concurrent_requests=1)
    failing = {**CHAT, "fake": {"mode": ["error_500"]}}
    assert live.post("/v1/chat/completions", failing).status_code >= 500
    assert _await_admitted(live, CHAT).status_code == 200


@pytest.mark.parametrize("fail_open", [True, False])
def test_without_its_store_the_gateway_fails_as_configured(live, settings, fail_open):
    limit_key(live, max_requests_per_1_minute=100)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.RATE_LIMIT_FAIL_OPEN = fail_open
    answer = live.post("/v1/chat/completions", CHAT)
    if fail_open:
        assert answer.status_code == 200
        assert "x-ratelimit-limit-requests" not in answer.headers
    else:
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "5"
        assert "Rate limits cannot be checked" in answer.json()["error"]["message"]


def test_a_store_that_never_answers_fails_closed_in_bounded_time(live, settings):
    """A Redis that accepts connections and never answers (hung, or a wrong port):
    the read deadline ends the wait with 503, not a hang."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes connections; nothing ever answers
    try:
        limit_key(live, max_requests_per_1_minute=100)
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.RATE_LIMIT_FAIL_OPEN = False
        answer = live.post("/v1/chat/completions", CHAT)
    finally:
        silent.close()
    assert answer.status_code == 503
    assert "Rate limits cannot be checked" in answer.json()["error"]["message"]


def test_conversation_turns_and_responses_are_limited_too(live):
    limit_key(live, max_requests_per_1_minute=2)
    turn = live.post("/v1/conv/chat/completions", {**CHAT, "store": False})
    assert turn.status_code == 200
    assert turn.headers["x-ratelimit-remaining-requests"] == "1"
    response = live.post("/v1/responses", {"model": MODEL, "input": "Hi"})
    assert response.status_code == 200
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    refused = live.post("/v1/responses", {"model": MODEL, "input": "Hi"})
    assert refused.status_code == 429
    refused_turn = live.post("/v1/conv/chat/completions", CHAT)
    assert refused_turn.status_code == 429


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own (never the shared one), stoppable."""
    import shutil
    import subprocess

    from janserver.tests.live_server import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]  # fmt: skip

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen | None = None

        def start(self) -> None:
            import redis

            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
            for _ in range(100):
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError("redis-server did not start")

        def stop(self) -> None:
            if self.process is not None:
                self.process.terminate()
                self.process.wait(timeout=10)
                self.process = None

    server = Server()
    server.start()
    yield server
    server.stop()


def test_redis_going_away_mid_load_fails_closed_then_recovers(
    live, settings, private_redis
):
    settings.REDIS_URL = private_redis.url
    settings.RATE_LIMIT_FAIL_OPEN = False
    limit_key(live, max_requests_per_1_minute=1000)
    first = live.post("/v1/chat/completions", CHAT)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "999"
    private_redis.stop()
    refused = live.post("/v1/chat/completions", CHAT)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    private_redis.start()  # empty: the counters start over
    for _ in range(50):  # the store reconnects by itself
        again = live.post("/v1/chat/completions", CHAT)
        if again.status_code == 200:
            break
        time.sleep(0.1)
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining-requests"] == "999"


def test_each_login_user_has_per_user_limits_of_their_own(live):
    from accounts.tokens import tokens_issue
    from orgs.tests.factories import OrganizationMemberFactory

    organization = live.project.organization
    rate_limit_set(
        organization=organization,
        per_user=True,
        limits={"max_requests_per_1_minute": 2},
    )
    users = [
        OrganizationMemberFactory(organization=organization, role="member").user
        for _ in range(2)
    ]
    tokens = [tokens_issue(user=user).access for user in users]

    def chat(token: str) -> httpx.Response:
        return httpx.post(
            f"{live.url}/v1/chat/completions",
            json=CHAT,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    assert [chat(tokens[0]).status_code for _ in range(3)] == [200, 200, 429]
    refused = chat(tokens[0]).json()["error"]["message"]
    assert f"in user {users[0].public_id} on requests per min (RPM)" in refused
    assert chat(tokens[1]).status_code == 200  # the other user's own quota
    # Project keys are not bound by per-user limits.
    assert [live.post("/v1/chat/completions", CHAT).status_code for _ in range(3)] == [
        200
    ] * 3
