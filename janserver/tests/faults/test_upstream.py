"""The model server killed (SIGKILL) while the gateway relays its streams: each stream
ends with one in-band error event and no [DONE], what was generated is stored as an
incomplete turn or a failed response, each request leaves one usage row; requests
while it is down are refused with an HTTP error, and it serves again once it is back."""

import json

import httpx
import openai
import pytest

from conversations.models import Item, Response
from inference import usage
from inference.models import UsageRecord, UsageStatus
from inference.testing.fixtures import MODEL
from janserver.tests.faults.processes import fake_vllm
from janserver.tests.faults.support import chat_body, chat_stream_text, post, sse_data
from janserver.tests.live_server import free_port

pytestmark = [
    pytest.mark.server,
    # The gateway runs in a thread of this process, over this test's database.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SLOW = {"tokens": 1000, "delay_ms": 20}  # twenty seconds: still running when killed
CLOSED_EARLY = {
    "message": "The model server closed the stream early.",
    "type": "server_error",
    "param": None,
    "code": "bad_upstream_response",
}
UPSTREAM_ERROR = UsageStatus.UPSTREAM_ERROR
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def upstream(tmp_path):
    service = fake_vllm(free_port(), tmp_path / "fake-vllm.log")
    yield service.start()
    service.stop()


def test_an_upstream_killed_mid_stream_fails_each_stream_in_band(
    upstream, tenant, gateway_url
):
    key = tenant(f"http://127.0.0.1:{upstream.port}/v1")
    client = openai.OpenAI(
        base_url=f"{gateway_url}/v1", api_key=key.secret, max_retries=0, timeout=30
    )
    # Three streams at once, each past its first content before the kill.
    chat = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, extra_body={"fake": SLOW}
    )
    chat_chunks = iter(chat)
    before_kill = [next(chat_chunks) for _ in range(3)]
    response_stream = client.responses.create(
        model=MODEL, input="Hello", stream=True, extra_body={"fake": SLOW}
    )
    response_events = iter(response_stream)
    while next(response_events).type != "response.output_text.delta":
        pass
    conv = httpx.stream(
        "POST",
        f"{gateway_url}/v1/conv/chat/completions",
        json=chat_body(stream=True, store=True, fake=SLOW),
        headers=key.headers,
        timeout=30,
    )
    with conv as conv_response:
        conv_chunks = conv_response.iter_raw()
        conv_raw = b""
        while chat_stream_text(sse_data(conv_raw)) == "":
            conv_raw += next(conv_chunks)

        upstream.kill()

        conv_raw += b"".join(conv_chunks)
    with pytest.raises(openai.APIError) as failure:
        list(chat_chunks)
    assert failure.value.message == CLOSED_EARLY["message"]
    assert before_kill[0].choices[0].delta.role == "assistant"
    rest = [event.type for event in response_events]
    assert rest[-1] == "response.failed"

    # The conversation turn: the error event last, no [DONE], the partial reply stored.
    conv_events = sse_data(conv_raw)
    assert json.loads(conv_events[-1]) == {"error": CLOSED_EARLY}
    assert "[DONE]" not in conv_events
    metadata = json.loads(conv_events[0])
    ask, reply = Item.objects.filter(
        conversation__public_id=metadata["conversation_id"]
    ).order_by("position")
    assert (ask.status, reply.status) == ("completed", "incomplete")
    assert reply.content[0]["text"] == chat_stream_text(conv_events)

    # The response: failed, with the error and what was generated before it.
    stored = Response.objects.get()
    assert stored.status == "failed"
    assert stored.error == {"code": "server_error", "message": CLOSED_EARLY["message"]}
    assert stored.output[0]["status"] == "incomplete"
    assert stored.output[0]["content"][0]["text"]

    # Down: refused before any byte. Back on the same port: served again.
    down = post(f"{gateway_url}/v1/chat/completions", chat_body(), headers=key.headers)
    assert (down.status_code, down.headers["Retry-After"]) == (503, "1")
    assert down.json() == {
        "error": {
            "message": "The model server is unreachable.",
            "type": "server_error",
            "param": None,
            "code": "service_unavailable",
        }
    }
    upstream.start()
    back = post(f"{gateway_url}/v1/chat/completions", chat_body(), headers=key.headers)
    assert back.status_code == 200, back.text

    # One usage row per request: the three streams and the refused one failed.
    usage.flush()
    rows = UsageRecord.objects.values_list(
        "request_id", "status", "stream", "http_status"
    )
    assert sorted(rows) == sorted(
        [
            (chat.response.headers["X-Request-ID"], UPSTREAM_ERROR, True, 200),
            (
                response_stream.response.headers["X-Request-ID"],
                UPSTREAM_ERROR,
                True,
                200,
            ),
            (conv_response.headers["X-Request-ID"], UPSTREAM_ERROR, True, 200),
            (down.headers["X-Request-ID"], UPSTREAM_ERROR, False, 503),
            (back.headers["X-Request-ID"], UsageStatus.OK, False, 200),
        ]
    )
