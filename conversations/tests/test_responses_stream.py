"""Responses streams that end badly: upstream faults mid-way and clients going away."""

import json
import time

import httpx
import pytest

from conversations.models import Response
from inference import usage
from inference.models import UsageRecord
from inference.testing.fixtures import MODEL

pytestmark = pytest.mark.server


def parse_events(raw: bytes) -> list[dict]:
    events = []
    for block in raw.split(b"\n\n"):
        lines = block.split(b"\n")
        if not block or block.startswith(b":"):
            continue
        kind = lines[0].removeprefix(b"event: ").decode()
        data = json.loads(lines[1].removeprefix(b"data: "))
        assert data["type"] == kind
        events.append(data)
    return events


def stored_status(public_id: str, timeout: float = 5.0) -> Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = Response.objects.get(public_id=public_id)
        if row.status not in ("queued", "in_progress"):
            return row
        time.sleep(0.02)
    raise AssertionError("the response never ended")


@pytest.mark.parametrize("fault", ["drop_mid_stream", "error_mid_stream"])
def test_upstream_failing_mid_stream_fails_the_response_keeping_output(live, fault):
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "stream": True,
            "fake": {"tokens": 20, "delay_ms": 2, "mode": [fault], "drop_after": 6},
        },
    )
    assert answer.status_code == 200
    assert b"[DONE]" not in answer.content
    events = parse_events(answer.content)
    assert events[-1]["type"] == "response.failed"
    assert [e["type"] for e in events].count("response.failed") == 1
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error"
    assert failed["output"][0]["status"] == "incomplete"
    partial = failed["output"][0]["content"][0]["text"]
    assert partial
    row = Response.objects.get(public_id=failed["id"])
    assert row.status == "failed"
    assert row.output[0]["content"][0]["text"] == partial
    assert row.error == failed["error"]


def test_non_stream_upstream_failure_mid_way_answers_a_failed_response(live):
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "fake": {"tokens": 20, "mode": ["drop_mid_stream"], "drop_after": 4},
        },
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "failed"


def test_client_disconnect_mid_stream_stores_incomplete_and_closes_upstream(live):
    body = {
        "model": MODEL,
        "input": "Hi",
        "stream": True,
        "fake": {"tokens": 2000, "delay_ms": 2},
    }
    with httpx.stream(
        "POST", f"{live.url}/v1/responses", json=body, headers=live.headers, timeout=10
    ) as answer:
        received = b""
        for chunk in answer.iter_bytes():
            received += chunk
            if received.count(b"response.output_text.delta") >= 6:
                break
    first = parse_events(received.rsplit(b"\n\n", 1)[0] + b"\n\n")[0]
    row = stored_status(first["response"]["id"])
    assert row.status == "incomplete"
    assert row.output[0]["content"][0]["text"]
    deadline = time.monotonic() + 5
    while live.fake.recorder.last.outcome == "pending" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live.fake.recorder.last.outcome == "disconnected"
    usage.flush()
    record = UsageRecord.objects.get(endpoint="responses")
    assert record.client_disconnected is True


def test_usage_row_per_response(live):
    live.post("/v1/responses", {"model": MODEL, "input": "Hi", "fake": {"tokens": 3}})
    usage.flush()
    record = UsageRecord.objects.get(endpoint="responses")
    assert (record.status, record.completion_tokens) == ("ok", 3)
