"""SIGTERM to a gateway serving live streams (uvicorn, as each gunicorn worker runs
it): it stops accepting connections, lets every open stream run to its end, finishes
background responses, then writes every usage row before it exits."""

import json
import signal

import httpx
import openai
import pytest

from conversations.models import Item, Response
from inference.models import UsageRecord, UsageStatus
from inference.testing.fake_vllm_logprobs import fake_text
from inference.testing.fixtures import MODEL
from janserver.tests.faults.support import (
    chat_body,
    chat_stream_text,
    database_url,
    gateway_log,
    sse_data,
    wait_until,
)

pytestmark = pytest.mark.server

TOKENS = 40
SLOW = {"tokens": TOKENS, "delay_ms": 50}  # two seconds: running at SIGTERM
MESSAGES = [{"role": "user", "content": "Hello"}]


def refused(base_url: str) -> bool:
    try:
        httpx.get(f"{base_url}/healthcheck", timeout=5)
    except httpx.ConnectError:
        return True
    return False


def test_sigterm_lets_open_streams_finish_and_writes_their_usage(
    tenant, gateway, tmp_path
):
    key = tenant()
    with gateway(database_url()) as gw:
        client = openai.OpenAI(
            base_url=f"{gw.base_url}/v1", api_key=key.secret, max_retries=0, timeout=30
        )
        chat = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_body={"fake": SLOW}
        )
        chat_chunks = iter(chat)
        first_chunk = next(chat_chunks)
        responses = client.responses.create(
            model=MODEL, input="Hello", stream=True, extra_body={"fake": SLOW}
        )
        response_events = iter(responses)
        assert next(response_events).type == "response.created"
        raw = client.responses.with_raw_response.create(
            model=MODEL, input="Hello", background=True, extra_body={"fake": SLOW}
        )
        background, background_request_id = raw.parse(), raw.headers["X-Request-ID"]
        conv = httpx.stream(
            "POST",
            f"{gw.base_url}/v1/conv/chat/completions",
            json=chat_body(stream=True, store=True, fake=SLOW),
            headers=key.headers,
            timeout=30,
        )
        with conv as conv_response:
            conv_chunks = conv_response.iter_raw()
            conv_raw = next(conv_chunks)

            gw.send_signal(signal.SIGTERM)
            wait_until(lambda: refused(gw.base_url), "refusing new connections")

            conv_raw += b"".join(conv_chunks)
        chat_text = (first_chunk.choices[0].delta.content or "") + "".join(
            chunk.choices[0].delta.content or ""
            for chunk in chat_chunks
            if chunk.choices
        )
        response_types = [event.type for event in response_events]
        # uvicorn ends by re-raising the signal it handled, once shut down.
        assert gw.wait(timeout=60) == -signal.SIGTERM

    # Every stream ran to its end.
    assert chat_text == fake_text(TOKENS)
    assert response_types[-1] == "response.completed"
    conv_events = sse_data(conv_raw)
    assert conv_events[-1] == "[DONE]"
    assert chat_stream_text(conv_events) == fake_text(TOKENS)
    metadata = json.loads(conv_events[0])
    ask, reply = Item.objects.filter(
        conversation__public_id=metadata["conversation_id"]
    ).order_by("position")
    assert (ask.status, reply.status) == ("completed", "completed")
    assert reply.content[0]["text"] == fake_text(TOKENS)
    assert Response.objects.get(public_id=background.id).status == "completed"

    # Written at shutdown, one row each (the periodic flush may have written some).
    rows = UsageRecord.objects.values_list("request_id", "status")
    assert sorted(rows) == sorted(
        (request_id, UsageStatus.OK)
        for request_id in (
            chat.response.headers["X-Request-ID"],
            responses.response.headers["X-Request-ID"],
            conv_response.headers["X-Request-ID"],
            background_request_id,
        )
    )
    log = gateway_log(tmp_path)
    assert "Application shutdown complete." in log
    assert "Shutdown incomplete" not in log
