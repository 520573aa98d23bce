"""The fake vLLM server speaks vLLM's OpenAI API and fails on request."""

import asyncio
import json
import subprocess
import sys
import time

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from inference.management.commands.fakevllm import Command
from inference.testing.fake_vllm import FakeVLLM, refusing_url, run_in_thread
from inference.testing.fake_vllm_events import (
    EXTRA_CHOICE,
    EXTRA_DELTA,
    EXTRA_TOP,
    THOUGHTS,
)
from inference.testing.fake_vllm_logprobs import WORDS, fake_text
from inference.testing.fake_vllm_plan import DEFAULT_ARGUMENTS, FAKE_STRING

MODEL = "jan-v1-4b"
MESSAGES = [{"role": "user", "content": "Say three words"}]
CHAT = {"model": MODEL, "messages": MESSAGES}
USAGE = {"prompt_tokens": 3, "total_tokens": 7, "completion_tokens": 4}


@pytest.fixture
async def server():
    async with FakeVLLM(tokens=4) as fake:
        yield fake


@pytest.fixture
async def client(server):
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as http:
        yield http


@pytest.fixture
def sdk(server):
    return AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)


def chat(sdk, **kwargs):
    """Create a chat completion with the default model and messages."""
    return sdk.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)


async def sse(client, body, path="/chat/completions"):
    """POST a streaming request; return the parsed `data:` payloads."""
    async with client.stream("POST", path, json=body | {"stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line[6:] async for line in response.aiter_lines() if line]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


async def lines_until(client, body, error, **kwargs):
    """Stream a chat request until `error` is raised; return the lines read."""
    received = []

    async def read():
        async with client.stream("POST", "/chat/completions", json=body, **kwargs) as r:
            async for line in r.aiter_lines():
                if line:
                    received.append(line)

    with pytest.raises(error):
        await read()
    return received


async def wait_for(predicate):
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def vllm_error(status, message, param=None):
    types = {400: "BadRequestError", 404: "NotFoundError"}
    error_type = types.get(status, "InternalServerError")
    return {
        "error": {
            "message": message,
            "type": error_type,
            "param": param,
            "code": status,
        }
    }


async def test_models_and_health():
    """GET /v1/models lists the served model ids; GET /health is 200."""
    async with FakeVLLM(models=("a", "b")) as fake, httpx.AsyncClient() as http:
        models = (await http.get(f"{fake.base_url}/models")).json()
        health = await http.get(fake.base_url.removesuffix("/v1") + "/health")
    assert models["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in models["data"]] == [
        ("a", "model", "vllm"),
        ("b", "model", "vllm"),
    ]
    assert health.status_code == 200


async def test_chat_non_stream_is_a_chat_completion(client):
    """A non-stream reply echoes the model and has the text, finish reason, usage."""
    body = (await client.post("/chat/completions", json=CHAT)).json()
    assert body["id"].startswith("chatcmpl-")
    assert isinstance(body.pop("created"), int)
    assert body == {
        "id": body["id"],
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": fake_text(4)},
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": USAGE,
    }


async def test_chat_stream_parses_with_the_openai_sdk(sdk):
    """Chunks start with the assistant role, carry the text, end with stop, no usage."""
    chunks = [chunk async for chunk in await chat(sdk, stream=True)]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {(c.object, c.id, c.model) for c in chunks} == {
        ("chat.completion.chunk", chunks[0].id, MODEL)
    }
    assert chunks[0].id.startswith("chatcmpl-")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == fake_text(4)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)


async def test_usage_chunk_only_when_asked(client):
    """include_usage adds a last chunk with no choices and the usage, before [DONE]."""
    events = await sse(client, CHAT | {"stream_options": {"include_usage": True}})
    assert events[-1] == "[DONE]"
    assert (events[-2]["choices"], events[-2]["usage"]) == ([], USAGE)
    plain = await sse(client, CHAT)
    assert all("usage" not in event for event in plain[:-1])


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("stream", [True, False])
async def test_max_tokens_finishes_with_length(sdk, field, stream):
    """A token cap below the reply length truncates it with finish_reason length."""
    reply = await chat(sdk, stream=stream, **{field: 2})
    if stream:
        chunks = [chunk async for chunk in reply]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert (text, finish) == (fake_text(2), "length")


async def test_completions_stream_and_non_stream(sdk):
    """Legacy completions return text_completion objects, streamed or not."""
    reply = await sdk.completions.create(model=MODEL, prompt="one two", max_tokens=3)
    assert (reply.object, reply.id[:5]) == ("text_completion", "cmpl-")
    assert (reply.choices[0].text, reply.choices[0].finish_reason) == (
        fake_text(3),
        "length",
    )
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 3)
    options = {"include_usage": True}
    stream = await sdk.completions.create(
        model=MODEL, prompt="x", stream=True, stream_options=options
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].text for c in chunks if c.choices) == fake_text(4)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 4


async def test_reasoning_mode_sends_reasoning_before_content(sdk):
    """Reasoning mode sends reasoning_content and reasoning deltas, then the content."""
    extra_body = {"fake": {"mode": "reasoning", "reasoning_tokens": 3}}
    deltas = [
        c.choices[0].delta
        async for c in await chat(sdk, stream=True, extra_body=extra_body)
    ]
    thoughts = [d.model_extra for d in deltas if d.model_extra]
    assert thoughts == [
        {"reasoning_content": word, "reasoning": word} for word in THOUGHTS[:3]
    ]
    assert deltas[1].model_extra == thoughts[0]
    assert "".join(d.content or "" for d in deltas) == fake_text(4)
    reply = await chat(sdk, extra_body=extra_body)
    thought = fake_text(3, THOUGHTS)
    assert reply.choices[0].message.model_extra == {
        "reasoning_content": thought,
        "reasoning": thought,
    }
    assert reply.usage.completion_tokens == 7


async def test_tool_calls_mode_streams_hermes_deltas(sdk):
    """Tool-call deltas keyed by index add up to the request's tool and JSON arguments."""
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    extra_body = {"fake": {"mode": "tool_calls", "tool_calls": 2}}
    calls = {}
    async for chunk in await chat(sdk, tools=tools, stream=True, extra_body=extra_body):
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(
                delta.index, {"id": delta.id, "name": "", "arguments": ""}
            )
            call["name"] += delta.function.name or ""
            call["arguments"] += delta.function.arguments or ""
    assert chunk.choices[0].finish_reason == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert {call["name"] for call in calls.values()} == {"lookup"}
    assert all(call["id"].startswith("chatcmpl-tool-") for call in calls.values())
    assert json.loads(calls[1]["arguments"]) == {"location": "Paris", "unit": "celsius"}
    reply = await chat(sdk, tools=tools, extra_body=extra_body)
    assert reply.choices[0].finish_reason == "tool_calls"
    assert [
        (call.type, call.function.name, call.function.arguments)
        for call in reply.choices[0].message.tool_calls
    ] == [("function", "lookup", "".join(DEFAULT_ARGUMENTS))] * 2


async def test_tools_auto_mode_calls_a_tool_then_answers(sdk):
    """tools_auto: a call of the first tool with arguments fitting its schema while
    the last message is not a tool result; text once it is, or without tools."""
    schema = {
        "type": "object",
        "properties": {"q": {"type": "string"}, "num": {"type": "integer"}},
        "required": ["q", "num"],
    }
    tools = [{"type": "function", "function": {"name": "search", "parameters": schema}}]
    extra_body = {"fake": {"mode": "tools_auto"}}
    reply = await chat(sdk, tools=tools, extra_body=extra_body)
    assert reply.choices[0].finish_reason == "tool_calls"
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "search"
    assert json.loads(call.function.arguments) == {"q": FAKE_STRING, "num": 2}
    answered = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "found"},
    ]
    reply = await sdk.chat.completions.create(
        model=MODEL, messages=answered, tools=tools, extra_body=extra_body
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content
    reply = await chat(sdk, extra_body=extra_body)
    assert reply.choices[0].finish_reason == "stop"


async def test_tools_auto_mode_follows_tool_choice(sdk):
    """tools_auto and tool_choice: a named function is the one called (with its
    schema's arguments), even after a tool result; `required` calls after one too;
    `none` never calls."""
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    }
    tools = [
        {"type": "function", "function": {"name": "first", "parameters": {}}},
        {"type": "function", "function": {"name": "second", "parameters": schema}},
    ]
    extra_body = {"fake": {"mode": "tools_auto"}}
    forced = {"type": "function", "function": {"name": "second"}}
    reply = await chat(sdk, tools=tools, tool_choice=forced, extra_body=extra_body)
    (call,) = reply.choices[0].message.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "second",
        {"n": 2},
    )
    answered = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "found"},
    ]
    for choice, reason in (
        (forced, "tool_calls"),
        ("required", "tool_calls"),
        ("auto", "stop"),
    ):
        reply = await sdk.chat.completions.create(
            model=MODEL,
            messages=answered,
            tools=tools,
            tool_choice=choice,
            extra_body=extra_body,
        )
        assert reply.choices[0].finish_reason == reason
    reply = await chat(sdk, tools=tools, tool_choice="none", extra_body=extra_body)
    assert reply.choices[0].finish_reason == "stop"


async def test_logprobs_when_requested(sdk):
    """logprobs adds a vLLM logprobs object per chunk, with top_logprobs alternatives."""
    stream = await chat(sdk, stream=True, logprobs=True, top_logprobs=2)
    entries = [
        c.choices[0].logprobs.content[0] async for c in stream if c.choices[0].logprobs
    ]
    assert [entry.token for entry in entries] == list(WORDS[:4])
    assert all(len(entry.top_logprobs) == 2 and entry.logprob < 0 for entry in entries)
    reply = await sdk.completions.create(model=MODEL, prompt="x", logprobs=1)
    assert reply.choices[0].logprobs.tokens == list(WORDS[:4])
    assert reply.choices[0].logprobs.text_offset == [0, 6, 11, 15]


async def test_extra_mode_adds_unknown_fields(client):
    """Extra mode adds unknown members to the chunk, the choice and the delta."""
    events = await sse(client, CHAT | {"fake": {"mode": "extra"}})
    for event in events[:-1]:
        assert event.items() >= EXTRA_TOP.items()
        assert event["choices"][0].items() >= EXTRA_CHOICE.items()
        assert event["choices"][0]["delta"].items() >= EXTRA_DELTA.items()


@pytest.mark.parametrize(
    ("body", "status", "message", "param"),
    [
        (CHAT | {"model": "nope"}, 404, "The model `nope` does not exist.", "model"),
        ({"model": MODEL}, 400, "messages must be a non-empty list.", None),
        (
            CHAT | {"fake": {"tokens": "9"}},
            400,
            "fake.tokens must be a non-negative number.",
            None,
        ),
        (CHAT | {"fake": {"mode": "bogus"}}, 400, "Unknown fake mode(s): bogus.", None),
        (
            CHAT | {"fake": {"mode": "error_500"}},
            500,
            "Fake upstream failure (500).",
            None,
        ),
        (
            CHAT | {"fake": {"mode": "error_500", "error_status": 503}},
            503,
            "Fake upstream failure (503).",
            None,
        ),
    ],
)
async def test_errors_have_vllm_bodies(client, body, status, message, param):
    """Unknown models, bad requests and error_500 answer vLLM-style JSON errors."""
    for stream in (False, True):
        response = await client.post(
            "/chat/completions", json=body | {"stream": stream}
        )
        assert (response.status_code, response.json()) == (
            status,
            vllm_error(status, message, param),
        )


async def test_invalid_json_is_a_400_and_is_recorded_raw(client, server):
    """A body that is not JSON is rejected with 400 and recorded as received."""
    response = await client.post("/chat/completions", content=b"{nope")
    assert (response.status_code, response.json()["error"]["type"]) == (
        400,
        "BadRequestError",
    )
    assert (server.recorder.last.raw, server.recorder.last.body) == (b"{nope", None)


async def test_error_500_raises_in_the_sdk(sdk):
    """The SDK sees the error_500 mode as an InternalServerError."""
    with pytest.raises(openai.InternalServerError):
        await chat(sdk, extra_body={"fake": {"mode": "error_500"}})


async def test_hang_before_headers_times_out_and_records_the_disconnect(client, server):
    """A hung request never answers; the client's departure is recorded."""
    body = CHAT | {"fake": {"mode": "hang_before_headers"}}
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/chat/completions", json=body, timeout=0.1)
    entry = server.recorder.last
    await wait_for(lambda: entry.outcome == "disconnected")
    assert (entry.status, entry.streamed, server.recorder.disconnects) == (
        None,
        False,
        1,
    )


async def test_slow_first_token_sends_headers_first(client):
    """slow_first_token sends the headers at once and the first event later."""
    fake = {"mode": "slow_first_token", "first_token_delay_ms": 300}
    timeout = httpx.Timeout(5, read=0.05)
    body = CHAT | {"stream": True, "fake": fake}
    async with client.stream(
        "POST", "/chat/completions", json=body, timeout=timeout
    ) as r:
        assert r.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            await r.aread()


async def test_drop_mid_stream_breaks_the_stream(client, server):
    """drop_mid_stream sends drop_after events, then closes without [DONE]."""
    body = CHAT | {"stream": True, "fake": {"mode": "drop_mid_stream", "drop_after": 3}}
    assert len(await lines_until(client, body, httpx.RemoteProtocolError)) == 3
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(
            "/chat/completions", json=CHAT | {"fake": {"mode": "drop_mid_stream"}}
        )
    assert [entry.outcome for entry in server.recorder.requests] == ["dropped"] * 2
    assert server.recorder.drops == 2


async def test_stall_mid_stream_goes_silent(client):
    """stall_mid_stream sends drop_after events, then nothing until the client leaves."""
    body = CHAT | {
        "stream": True,
        "fake": {"mode": "stall_mid_stream", "drop_after": 2},
    }
    timeout = httpx.Timeout(5, read=0.1)
    assert len(await lines_until(client, body, httpx.ReadTimeout, timeout=timeout)) == 2


async def test_error_mid_stream_sends_an_error_event(client):
    """error_mid_stream sends an error event after drop_after events, then [DONE]."""
    events = await sse(
        client, CHAT | {"fake": {"mode": "error_mid_stream", "drop_after": 1}}
    )
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[1:] == [vllm_error(500, "Fake mid-stream failure."), "[DONE]"]


@pytest.mark.parametrize(
    ("mode", "stream", "content_type"),
    [
        ("garbage", True, "text/event-stream"),
        ("garbage", False, "application/json"),
        ("html", True, "text/html"),
    ],
)
async def test_garbage_modes_answer_200_with_unparseable_bodies(
    client, mode, stream, content_type
):
    """garbage and html answer 200 with bodies (or data lines) that are not JSON."""
    body = CHAT | {"stream": stream, "fake": {"mode": mode}}
    response = await client.post("/chat/completions", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    lines = response.text.split("\n\n")
    payloads = (
        [line[6:] for line in lines if line not in ("", "data: [DONE]")]
        if content_type == "text/event-stream"
        else [response.text]
    )
    assert payloads
    for payload in payloads:
        with pytest.raises(json.JSONDecodeError):
            json.loads(payload)


async def test_refusing_url_refuses_connections():
    """refusing_url() names a port where connections are refused."""
    with refusing_url() as url:
        async with httpx.AsyncClient() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"{url}/models")


async def test_records_headers_and_bodies(client, server):
    """The last requests are kept with their path, headers, parsed body and status."""
    body = CHAT | {"top_k": 5, "stream_options": {"include_usage": True}}
    await client.post("/chat/completions", json=body, headers={"X-Request-ID": "req_1"})
    entry = server.recorder.last
    assert (entry.method, entry.path, entry.body) == (
        "POST",
        "/v1/chat/completions",
        body,
    )
    assert (entry.headers["x-request-id"], entry.status, entry.outcome) == (
        "req_1",
        200,
        "completed",
    )


async def test_client_disconnect_is_recorded(client, server):
    """Closing a stream mid-way is recorded as a disconnect, with its time."""
    body = CHAT | {"stream": True, "fake": {"tokens": 1000, "delay_ms": 5}}
    async with client.stream("POST", "/chat/completions", json=body) as response:
        async for _line in response.aiter_lines():
            break
        assert server.recorder.open_streams == 1
    closed_at = time.monotonic()
    entry = server.recorder.last
    await wait_for(lambda: entry.disconnected_at is not None)
    assert entry.disconnected_at >= closed_at
    assert 0 < entry.chunks_sent < 1000
    assert server.recorder.stats() == {
        "requests": 1,
        "streams_opened": 1,
        "streams_open": 0,
        "streams_completed": 0,
        "disconnects": 1,
        "drops": 0,
    }


async def test_x_fake_mode_header_selects_modes(client):
    """The X-Fake-Mode header selects modes, for callers that cannot add body fields."""
    response = await client.post(
        "/chat/completions", json=CHAT, headers={"X-Fake-Mode": "reasoning"}
    )
    assert response.json()["choices"][0]["message"]["reasoning"] == fake_text(
        8, THOUGHTS
    )


def test_run_in_thread_serves_sync_clients():
    """run_in_thread() serves from a background loop, with constructor defaults."""
    with run_in_thread(tokens=2, mode="extra") as fake:
        reply = httpx.post(
            f"{fake.base_url}/completions", json={"prompt": "hi"}, timeout=5
        )
    assert (reply.json()["choices"][0]["text"], reply.json()["x_fake"]) == (
        fake_text(2),
        EXTRA_TOP["x_fake"],
    )


def test_management_command_shares_the_cli_options():
    """manage.py fakevllm parses the same options as the module's CLI."""
    parser = Command().create_parser("manage.py", "fakevllm")
    argv = ["--port", "9", "--tokens", "64", "--delay-ms", "10", "--models", "a", "b,c"]
    options = parser.parse_args(argv)
    assert (options.port, options.tokens, options.delay_ms, options.models) == (
        9,
        64,
        10.0,
        ["a", "b,c"],
    )


def test_cli_runs_standalone_without_django():
    """The CLI serves without importing Django, prints its URL and stops on SIGTERM."""
    code = (
        "import sys; import inference.testing.fake_vllm as m; "
        "assert 'django' not in sys.modules; m.main(['--port', '0', '--no-uvloop'])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True
    )
    try:
        url = process.stdout.readline().split()[-1]
        assert (
            httpx.get(url.removesuffix("/v1") + "/health", timeout=5).status_code == 200
        )
    finally:
        process.terminate()
    assert process.wait(5) == 0


@pytest.mark.parametrize(
    ("stop", "text", "tokens"),
    [
        ([" fake"], " Hello from the", 3),  # at a token boundary
        ("ake", " Hello from the f", 4),  # inside a token: its head is the last token
        (["nowhere", " from"], " Hello", 1),  # the first sequence met wins
        (["nowhere"], fake_text(4), 4),  # never met: the usual reply
    ],
)
async def test_stop_sequences_end_the_content_before_them(client, stop, text, tokens):
    """As vLLM: the content ends before the first stop sequence met, which is not
    in it; finish_reason "stop" with the sequence as stop_reason; usage counts the
    tokens sent, streamed and not, chat and legacy completions."""
    met = text != fake_text(4)
    finish = ("stop", (stop if isinstance(stop, str) else stop[-1])) if met else None
    body = {"model": MODEL, "messages": MESSAGES, "stop": stop}
    answer = (await client.post("/chat/completions", json=body)).json()
    [choice] = answer["choices"]
    assert choice["message"]["content"] == text
    assert answer["usage"]["completion_tokens"] == tokens
    if finish:
        assert (choice["finish_reason"], choice["stop_reason"]) == finish
    events = await sse(client, body | {"stream_options": {"include_usage": True}})
    streamed = [e["choices"][0] for e in events[:-1] if e["choices"]]
    assert "".join(c["delta"].get("content") or "" for c in streamed) == text
    assert events[-2]["usage"]["completion_tokens"] == tokens
    if finish:
        assert (streamed[-1]["finish_reason"], streamed[-1]["stop_reason"]) == finish
    legacy = {"model": MODEL, "prompt": "Say", "stop": stop}
    answer = (await client.post("/completions", json=legacy)).json()
    assert answer["choices"][0]["text"] == text
    events = await sse(client, legacy, path="/completions")
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == text


async def test_a_stop_that_is_not_strings_is_a_400(client):
    body = {"model": MODEL, "messages": MESSAGES, "stop": [1]}
    answer = await client.post("/chat/completions", json=body)
    assert answer.status_code == 400
    assert "stop" in answer.json()["error"]["message"]
