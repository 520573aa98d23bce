"""Background responses: queued at once, resumable streams, cancels from any process."""

import json
import time

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from conversations.models import Response
from conversations.responses import buffer
from conversations.tests.test_responses_stream import parse_events, stored_status
from inference.testing.fixtures import MODEL

pytestmark = pytest.mark.server

needs_redis = pytest.mark.skipif(
    not settings.REDIS_URL, reason="the cross-process path needs REDIS_URL"
)


def start(live, tokens=4, delay_ms=0, **fields) -> dict:
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "background": True,
            "fake": {"tokens": tokens, "delay_ms": delay_ms},
            **fields,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def resume(live, public_id: str, after: int | None = None) -> list[dict]:
    params = {"stream": "true"}
    if after is not None:
        params["starting_after"] = str(after)
    answer = httpx.get(
        f"{live.url}/v1/responses/{public_id}",
        params=params,
        headers=live.headers,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return parse_events(answer.content)


def wait_for_status(public_id: str, status: str) -> None:
    deadline = time.monotonic() + 5
    while Response.objects.get(public_id=public_id).status != status:
        assert time.monotonic() < deadline, f"never {status}"
        time.sleep(0.01)


def test_background_answers_queued_and_finishes(live):
    data = start(live)
    assert data["status"] == "queued"
    assert data["background"] is True
    assert data["output"] == []
    assert data["usage"] is None
    row = stored_status(data["id"])
    assert row.status == "completed"
    assert row.output[0]["content"][0]["text"]
    assert row.usage["output_tokens"] == 4


def test_background_stream_then_resume_without_gaps_or_duplicates(live):
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "background": True,
            "stream": True,
            "fake": {"tokens": 6, "delay_ms": 0},
        },
    )
    events = parse_events(answer.content)
    assert events[0]["type"] == "response.created"
    assert events[0]["response"]["status"] == "queued"
    assert events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for after in (-1, 0, 5, len(events) - 2):
        replayed = resume(live, events[0]["response"]["id"], after)
        assert replayed == events[after + 1 :]
    assert resume(live, events[0]["response"]["id"]) == events


def test_resume_while_running_follows_live_events(live):
    data = start(live, tokens=40, delay_ms=5)
    wait_for_status(data["id"], "in_progress")
    replayed = resume(live, data["id"], after=3)
    numbers = [e["sequence_number"] for e in replayed]
    assert numbers == list(range(4, 4 + len(numbers)))
    assert replayed[-1]["type"] == "response.completed"
    deltas = [e for e in replayed if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 30


def test_cancel_a_running_background_response_closes_the_upstream(live):
    data = start(live, tokens=5000, delay_ms=2)
    wait_for_status(data["id"], "in_progress")
    answer = live.post(f"/v1/responses/{data['id']}/cancel", {})
    assert answer.status_code == 200
    assert answer.json()["status"] == "cancelled"
    events = resume(live, data["id"])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["status"] == "cancelled"
    deadline = time.monotonic() + 5
    while live.fake.recorder.last.outcome == "pending" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live.fake.recorder.last.outcome == "disconnected"
    row = Response.objects.get(public_id=data["id"])
    assert row.status == "cancelled"
    again = live.post(f"/v1/responses/{data['id']}/cancel", {})
    assert again.json()["status"] == "cancelled"


def test_cancel_of_finished_background_responses(live):
    data = start(live)
    stored_status(data["id"])
    answer = live.post(f"/v1/responses/{data['id']}/cancel", {})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Cannot cancel a completed response."


def test_resume_of_a_foreground_response_is_refused(live):
    data = live.post("/v1/responses", {"model": MODEL, "input": "Hi"}).json()
    answer = httpx.get(
        f"{live.url}/v1/responses/{data['id']}",
        params={"stream": "true"},
        headers=live.headers,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "stream"


def test_background_upstream_failure_is_stored_as_failed(live):
    data = start(live, fake={"mode": ["error_500"]})
    row = stored_status(data["id"])
    assert row.status == "failed"
    assert row.error["code"] == "server_error"
    events = resume(live, data["id"])
    assert events[-1]["type"] == "response.failed"


def test_deleting_a_running_background_response_stops_it(live):
    data = start(live, tokens=5000, delay_ms=2)
    wait_for_status(data["id"], "in_progress")
    answer = httpx.delete(f"{live.url}/v1/responses/{data['id']}", headers=live.headers)
    assert answer.json()["deleted"] is True
    deadline = time.monotonic() + 5
    while live.fake.recorder.last.outcome == "pending" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live.fake.recorder.last.outcome == "disconnected"
    assert not Response.objects.filter(public_id=data["id"]).exists()


@needs_redis
def test_cancel_broadcast_from_another_process_stops_the_runner(live):
    """The cancel reaches the runner through Redis alone (another event loop and
    connection than the gateway's, as another replica would)."""
    data = start(live, tokens=5000, delay_ms=2)
    wait_for_status(data["id"], "in_progress")
    async_to_sync(buffer.cancel_broadcast)(data["id"])
    row = stored_status(data["id"])
    assert row.status == "cancelled"
    assert row.output[0]["status"] == "incomplete"


@needs_redis
def test_events_are_readable_from_another_process_while_running(live):
    data = start(live, tokens=200, delay_ms=2)
    wait_for_status(data["id"], "in_progress")

    async def read_all() -> list[dict]:
        events, after = [], -1
        shared = buffer.RedisBuffer()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = await shared.read(data["id"], after, 1.0)
            events += batch
            if batch:
                after = batch[-1]["sequence_number"]
            if events and events[-1]["type"] == "response.completed":
                break
        return events

    events = async_to_sync(read_all)()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert json.dumps(events)


@pytest.mark.parametrize("after", ["99999999999999999999999999999", "-2", "x", "1e3"])
def test_resuming_from_an_impossible_sequence_number_is_a_400(live, after):
    """Before any byte of the stream: a 400 naming the parameter, never a cut stream."""
    public_id = start(live)["id"]
    wait_for_status(public_id, "completed")
    answer = httpx.get(
        f"{live.url}/v1/responses/{public_id}",
        params={"stream": "true", "starting_after": after},
        headers=live.headers,
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "starting_after"


def test_resuming_past_the_last_event_ends_at_once(live):
    """A sequence number beyond the last event: nothing more to send."""
    public_id = start(live)["id"]
    wait_for_status(public_id, "completed")
    assert resume(live, public_id, after=2**53 - 1) == []


def test_resuming_with_redis_unreachable_is_a_503(live, settings):
    public_id = start(live)["id"]
    wait_for_status(public_id, "completed")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    answer = httpx.get(
        f"{live.url}/v1/responses/{public_id}",
        params={"stream": "true"},
        headers=live.headers,
        timeout=10,
    )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"


async def test_a_buffer_failing_mid_stream_ends_with_one_error_event(monkeypatch):
    """Redis going away while a resume runs: the client gets an error event."""
    from conversations.responses import resume as resume_module

    class Failing:
        calls = 0

        async def read(self, response_id, after, wait):
            Failing.calls += 1
            if Failing.calls > 1:
                import redis

                raise redis.ConnectionError("gone")
            return [{"type": "response.created", "sequence_number": 0}]

    monkeypatch.setattr(resume_module, "event_buffer", Failing)

    async def running() -> bool:
        return False

    parts = [part async for part in resume_module.replay("resp_x", -1, running)]
    events = parse_events(b"".join(parts))
    assert [e["type"] for e in events] == ["response.created", "error"]
    assert events[-1] == {
        "type": "error",
        "code": "service_unavailable",
        "message": "The shared cache is unavailable. Retry shortly.",
        "param": None,
        "sequence_number": 1,
    }


def test_a_background_response_with_redis_unreachable_is_a_503_and_not_stored(
    live, settings
):
    """Nobody could follow its events: refused before anything is stored."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    answer = live.post(
        "/v1/responses", {"model": MODEL, "input": "Hi", "background": True}
    )
    assert answer.status_code == 503
    assert not Response.objects.exists()
