"""End to end: the openai SDK → a real gateway (uvicorn) → the fake vLLM upstream."""

import json
import time

import httpx
import openai
import pytest

from inference import catalog, usage
from inference.models import UsageRecord
from inference.testing.fake_vllm import refusing_url
from inference.testing.fixtures import MODEL, make_provider

pytestmark = pytest.mark.server


def sse_events(response: httpx.Response) -> list[bytes]:
    return [e for e in response.content.split(b"\n\n") if e]


def test_chat_completion_non_stream_with_the_sdk(live):
    client = live.openai()
    reply = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi"}]
    )
    completion = reply.parse()
    assert completion.choices[0].message.content
    assert completion.usage.completion_tokens == 16
    sent = live.fake.recorder.last
    assert sent.headers["x-request-id"] == reply.headers["x-request-id"]
    assert "stream_options" not in sent.body


def test_stream_relays_every_chunk_and_usage_when_asked(live):
    client = live.openai()
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage.completion_tokens == 16
    assert chunks[-1].choices == []


def test_usage_is_always_asked_upstream_and_stripped_when_not_asked(live):
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert events[-1] == b"data: [DONE]"
    assert not any(b'"usage":{' in e for e in events)
    assert live.fake.recorder.last.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("mode", "marker"),
    [
        ("reasoning", b'"reasoning_content"'),
        ("tool_calls", b'"tool_calls"'),
        ("extra", b'"x_fake'),
    ],
)
def test_stream_fields_are_relayed_losslessly(live, mode, marker):
    """Upstream events reach the client byte for byte (reasoning, tool calls, unknown fields)."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "fake": {"mode": mode},
    }
    direct = httpx.post(f"{live.fake.base_url}/chat/completions", json=body, timeout=30)
    relayed = live.post("/v1/chat/completions", body)
    assert marker in relayed.content
    assert _shapes(sse_events(relayed)) == _shapes(sse_events(direct))


def _shapes(events: list[bytes]) -> list:
    """The members of each event (ids and timestamps differ between two requests)."""
    return [json.loads(e[6:]).keys() for e in events if e.startswith(b"data: {")]


def test_tool_calls_round_trip_with_the_sdk(live):
    client = live.openai()
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
    ]
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather?"}],
        tools=tools,
        extra_body={"fake": {"mode": "tool_calls"}},
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert completion.choices[0].finish_reason == "tool_calls"
    assert live.fake.recorder.last.body["tools"] == tools


def test_vllm_knobs_pass_through_and_routing_fields_do_not(live):
    live.openai().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0,
        extra_body={
            "top_k": 5,
            "repetition_penalty": 1.1,
            "chat_template_kwargs": {"enable_thinking": False},
            "request_id": "mine",
            "chat_template": "{{ evil }}",
        },
    )
    sent = live.fake.recorder.last.body
    assert sent["temperature"] == 0
    assert sent["top_k"] == 5
    assert sent["repetition_penalty"] == 1.1
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}
    assert "request_id" not in sent
    assert "chat_template" not in sent


def test_text_completions_stream_and_not(live):
    client = live.openai()
    assert client.completions.create(model=MODEL, prompt="Say").choices[0].text
    parts = list(client.completions.create(model=MODEL, prompt="Say", stream=True))
    assert "".join(p.choices[0].text for p in parts if p.choices)


def test_models_list_and_retrieve_with_the_sdk(live):
    client = live.openai()
    assert [m.id for m in client.models.list()] == [MODEL]
    assert client.models.retrieve(MODEL).owned_by == "Jan"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("other-model")
    detailed = httpx.get(
        f"{live.url}/v1/models", headers=live.headers | {"X-PROVIDER-DATA": "true"}
    ).json()
    assert detailed["data"][0]["provider_id"] == live.provider.public_id


BAD_BODIES = [
    ({"messages": [{"role": "user", "content": "x"}]}, 400, "model"),
    ({"model": MODEL}, 400, "messages"),
    ({"model": MODEL, "messages": "hi"}, 400, "messages"),
    (
        {"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]},
        400,
        "messages[0].role",
    ),
    ({"model": 7, "messages": []}, 400, "model"),
    (
        {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 99},
        400,
        "n",
    ),
    (
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "stream": "yes",
        },
        400,
        "stream",
    ),
    (
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 10**6,
        },
        400,
        "max_tokens",
    ),
    (
        {"model": MODEL, "messages": [{"role": "user", "content": "x\u0000"}]},
        400,
        "messages[0].content",
    ),
    ({"model": "nope", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
]


@pytest.mark.parametrize(("body", "status", "param"), BAD_BODIES)
def test_bad_requests_get_clear_errors_and_reach_no_upstream(live, body, status, param):
    before = len(live.fake.recorder.requests)
    response = live.post("/v1/chat/completions", body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"]
    assert error["param"] == param
    assert len(live.fake.recorder.requests) == before


def test_malformed_json_and_oversized_bodies(live):
    broken = httpx.post(
        f"{live.url}/v1/chat/completions",
        content=b'{"model": ',
        headers=live.headers | {"Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_json"
    before = len(live.fake.recorder.requests)
    for constant in (b"NaN", b"Infinity", b"-Infinity"):  # not JSON, json.loads aside
        not_json = httpx.post(
            f"{live.url}/v1/chat/completions",
            content=b'{"model": "m", "temperature": %s, "messages": []}' % constant,
            headers=live.headers | {"Content-Type": "application/json"},
        )
        assert not_json.status_code == 400
        assert not_json.json()["error"]["code"] == "invalid_json"
    assert len(live.fake.recorder.requests) == before
    huge = httpx.post(
        f"{live.url}/v1/chat/completions",
        content=b" " * (10 * 1024 * 1024),
        headers=live.headers | {"Content-Type": "application/json"},
        timeout=30,
    )
    assert huge.status_code == 413


def test_sdk_exception_classes_for_auth_errors(live, admin_key):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{live.url}/v1", api_key="sk-project_nope", max_retries=0
        ).models.list()
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(
            base_url=f"{live.url}/v1", api_key=admin_key[1], max_retries=0
        ).models.list()


def test_a_model_of_another_organization_is_not_found(live, fake):
    other = make_provider(fake.base_url, name="Private", models=("other-model",))
    other.organization = other_org = __import__(
        "orgs.tests.factories", fromlist=["OrganizationFactory"]
    ).OrganizationFactory()
    other.save()
    catalog.refresh()
    assert other_org.pk != live.project.organization_id
    with pytest.raises(openai.NotFoundError):
        live.openai().chat.completions.create(
            model="other-model", messages=[{"role": "user", "content": "x"}]
        )


def test_upstream_refusing_connections_fails_over_then_503(live, fake):
    with refusing_url() as dead:
        live.provider.base_url = dead
        live.provider.save()
        catalog.refresh()
        with pytest.raises(openai.InternalServerError) as raised:
            live.openai().chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}]
            )
    assert raised.value.status_code == 503


def test_failover_to_a_healthy_provider_before_the_first_byte(live, fake):
    with refusing_url() as dead:
        live.provider.base_url = dead
        live.provider.save()
        make_provider(fake.base_url, name="Backup")  # refreshes the catalog
        completion = live.openai().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}]
        )
    assert completion.choices[0].message.content


@pytest.mark.parametrize(
    ("mode", "status"),
    [("error_500", 502), ("garbage", 502), ("html", 502)],
)
def test_upstream_failures_before_the_first_byte_are_http_errors(live, mode, status):
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "fake": {"mode": mode},
        },
    )
    assert response.status_code == status
    assert response.json()["error"]["type"] == "server_error"


def test_hanging_upstream_is_a_504(live, settings):
    settings.UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS = 0.5
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "fake": {"mode": "hang_before_headers"},
        },
    )
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


@pytest.mark.parametrize("mode", ["drop_mid_stream", "error_mid_stream", "garbage_mid"])
def test_failures_after_the_first_byte_end_with_one_error_event(live, mode):
    fake = {"mode": mode, "drop_after": 3}
    if mode == "garbage_mid":
        fake = {"mode": "drop_mid_stream", "drop_after": 3}
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "fake": fake,
        },
    )
    assert response.status_code == 200
    events = sse_events(response)
    assert events[-1].startswith(b'data: {"error"')
    assert b"data: [DONE]" not in events
    assert json.loads(events[-1][6:])["error"]["type"] == "server_error"


def test_heartbeats_fill_long_silences(live, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.1
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "fake": {"tokens": 2, "delay_ms": 350},
        },
    )
    assert b": keep-alive\n\n" in response.content
    assert sse_events(response)[-1] == b"data: [DONE]"


def test_an_upstream_silent_past_the_idle_timeout_ends_with_one_error_event(
    live, settings
):
    """Heartbeats while the upstream is silent, then upstream_timeout, no [DONE]."""
    settings.SSE_HEARTBEAT_SECONDS = 0.1
    settings.UPSTREAM_IDLE_TIMEOUT_SECONDS = 0.5
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "fake": {"mode": "stall_mid_stream", "drop_after": 2},
        },
    )
    events = sse_events(response)
    # The relayed tokens, then heartbeats through the silence, then the error.
    heartbeats = response.content.index(b": keep-alive\n\n")
    assert response.content.count(b": keep-alive\n\n") >= 2
    assert response.content.rindex(b'"content"') < heartbeats
    assert response.content.rindex(b": keep-alive") < response.content.index(b'"error"')
    assert json.loads(events[-1][6:])["error"]["code"] == "upstream_timeout"
    assert b"data: [DONE]" not in events
    assert _wait_for(lambda: live.fake.recorder.last.outcome == "disconnected")


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_client_disconnect_closes_the_upstream_and_records_usage(live):
    """The upstream request ends when the client goes away, not at its own end."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "fake": {"tokens": 500, "delay_ms": 20},
    }
    with httpx.stream(
        "POST",
        f"{live.url}/v1/chat/completions",
        json=body,
        headers=live.headers,
        timeout=30,
    ) as response:
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
    sent = live.fake.recorder.last
    assert _wait_for(lambda: sent.disconnected_at is not None)
    # Most of the 500 tokens (10 s of them) were never sent: the gateway closed the
    # upstream request as soon as its client left.
    assert sent.chunks_sent < 250
    assert _wait_for(
        lambda: (
            usage.flush() >= 0
            and UsageRecord.objects.filter(request_id=request_id).exists()
        )
    )
    record = UsageRecord.objects.get(request_id=request_id)
    assert record.client_disconnected
    assert record.status == "disconnected"
    assert 0 < record.completion_tokens < 500
    assert record.provider_id == live.provider.pk


def test_a_client_leaving_after_done_counts_as_a_complete_stream(live):
    """The SDKs close as soon as `[DONE]` arrives, often before the upstream's own
    end reaches the gateway: the stream was delivered whole, so its usage row says
    `ok`, not `disconnected` (the upstream here keeps its connection open after
    `[DONE]`, so the client's close always comes first)."""
    stream = live.openai().chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"fake": {"tokens": 5, "mode": ["linger_after_done"]}},
    )
    request_id = stream.headers["x-request-id"]
    chunks = list(stream.parse())
    assert chunks[-1].usage is not None
    sent = live.fake.recorder.last
    assert _wait_for(lambda: sent.disconnected_at is not None)
    assert _wait_for(
        lambda: (
            usage.flush() >= 0
            and UsageRecord.objects.filter(request_id=request_id).exists()
        )
    )
    record = UsageRecord.objects.get(request_id=request_id)
    assert (record.status, record.client_disconnected) == ("ok", False)
    assert record.completion_tokens == chunks[-1].usage.completion_tokens


def test_usage_is_recorded_per_request_with_upstream_counts(live):
    reply = live.openai().chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Hi there"}]
    )
    completion = reply.parse()
    request_id = reply.headers["x-request-id"]
    assert _wait_for(
        lambda: (
            usage.flush() >= 0
            and UsageRecord.objects.filter(request_id=request_id).exists()
        )
    )
    record = UsageRecord.objects.get(request_id=request_id)
    assert record.prompt_tokens == completion.usage.prompt_tokens
    assert record.completion_tokens == completion.usage.completion_tokens
    assert record.status == "ok"
    assert not record.stream
    assert record.project_id == live.project.pk
    assert record.time_to_first_token_ms is not None


def test_provider_deleted_while_streaming_still_finishes_and_is_recorded(live):
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "fake": {"tokens": 30, "delay_ms": 20},
    }
    with httpx.stream(
        "POST",
        f"{live.url}/v1/chat/completions",
        json=body,
        headers=live.headers,
        timeout=30,
    ) as response:
        request_id = response.headers["x-request-id"]
        live.provider.delete()
        content = response.read()
    assert content.rstrip().endswith(b"data: [DONE]")
    assert _wait_for(
        lambda: (
            usage.flush() >= 0
            and UsageRecord.objects.filter(request_id=request_id).exists()
        )
    )
    assert UsageRecord.objects.get(request_id=request_id).provider_id is None


def test_a_busy_upstream_is_a_429_for_the_sdk(live):
    with pytest.raises(openai.RateLimitError) as raised:
        live.openai().chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"fake": {"mode": "error_500", "error_status": 429}},
        )
    assert raised.value.response.headers["retry-after"]


def test_a_slow_first_token_within_the_deadline_streams_normally(live, settings):
    settings.UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS = 5
    response = live.post(
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "fake": {"mode": "slow_first_token", "first_token_delay_ms": 300},
        },
    )
    assert response.status_code == 200
    assert sse_events(response)[-1] == b"data: [DONE]"


def test_metrics_describe_the_relayed_request(live):
    live.openai().chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}]
    )
    text = httpx.get(f"{live.url}/metrics").text  # loopback, no token configured
    assert (
        'janserver_time_to_first_token_seconds_count{model="jan-v1-4b",provider="Jan"}'
        in text
    )
    assert 'janserver_requests_total{route="chat.completions",status="200"}' in text
    labels = {
        part.split("=")[0]
        for line in text.splitlines()
        if line.startswith("janserver_") and "{" in line
        for part in line[line.index("{") + 1 : line.index("}")].split(",")
    }
    # tool/outcome: the tool-call counters, there once any test of this process
    # called a tool (bounded: built-in and registered tool names, ToolOutcome).
    assert labels <= {
        *("model", "provider", "route", "status", "kind", "le"),
        *("tool", "outcome"),
    }
