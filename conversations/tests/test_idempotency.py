"""Idempotency-Key on /v1/conv/chat/completions: claim, conflict, replay, release."""

import json
import threading

import httpx
import pytest

from conversations.models import Conversation, IdempotencyKey, Item
from conversations.tests.conftest import key_api_for
from conversations.tests.test_conv_completions import (
    PATH,
    chat,
    events,
    items_of,
    streamed_text,
    wait_for,
)

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

KEY = "retry-7f3a"


def post(live, body, key=KEY):
    headers = {**live.headers, "Idempotency-Key": key}
    return httpx.post(f"{live.url}{PATH}", json=body, headers=headers, timeout=30)


def test_a_finished_request_is_replayed_without_new_items_or_upstream_call(live):
    first = post(live, chat("Once", store=True))
    assert first.status_code == 200
    sent = live.fake.recorder.total_requests
    again = post(live, chat("Once", store=True))
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert live.fake.recorder.total_requests == sent
    assert Conversation.objects.count() == 1
    assert len(items_of(first.json()["metadata"]["conversation_id"])) == 2
    row = IdempotencyKey.objects.get()
    assert (row.key, row.status, row.conversation.public_id) == (
        KEY,
        "completed",
        first.json()["metadata"]["conversation_id"],
    )


def test_a_streamed_request_is_replayed_as_a_short_stream(live):
    body = chat("Stream me", stream=True, store=True)
    original = events(post(live, body))
    sent = live.fake.recorder.total_requests
    body["stream_options"] = {"include_usage": True}
    replayed = post(live, body)
    assert replayed.status_code == 200
    assert replayed.headers["content-type"].startswith("text/event-stream")
    parsed = events(replayed)
    assert parsed[0] == original[0]
    assert streamed_text(parsed) == streamed_text(original)
    assert parsed[-2]["usage"]["completion_tokens"] == 16
    assert parsed[-1] == "[DONE]"
    assert live.fake.recorder.total_requests == sent
    assert Item.objects.count() == 2


def test_a_streamed_request_is_replayed_as_json_when_the_retry_asks_json(live):
    original = events(post(live, chat("Hi", stream=True, store=True)))
    replayed = post(live, chat("Hi", store=True)).json()
    assert replayed["metadata"] == original[0]
    assert replayed["object"] == "chat.completion"
    message = replayed["choices"][0]["message"]
    assert message == {"role": "assistant", "content": streamed_text(original)}
    assert replayed["choices"][0]["finish_reason"] == "stop"


def test_store_false_is_replayed_too(live):
    first = post(live, chat("No store"))
    sent = live.fake.recorder.total_requests
    again = post(live, chat("No store"))
    assert again.json() == first.json()
    assert live.fake.recorder.total_requests == sent
    assert not Item.objects.exists()


def test_reasoning_is_left_out_of_the_replay_unless_stored(live):
    fake = {"mode": "reasoning", "reasoning_tokens": 3, "tokens": 2}
    body = chat(stream=True, store=True, fake=fake)
    post(live, body)
    message = post(live, {**body, "stream": False}).json()["choices"][0]["message"]
    assert "reasoning_content" not in message
    body["store_reasoning"] = True
    post(live, body, key="other")
    replayed = post(live, {**body, "stream": False}, key="other")
    message = replayed.json()["choices"][0]["message"]
    assert message["reasoning_content"].strip()


def test_a_retry_while_the_first_request_runs_is_a_409(live):
    body = chat(stream=True, store=True, fake={"tokens": 20, "delay_ms": 25})
    done = threading.Event()
    results = {}

    def first():
        results["first"] = post(live, body)
        done.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert wait_for(lambda: IdempotencyKey.objects.exists())
    retry = post(live, body)
    assert (retry.status_code, retry.json()) == (
        409,
        {
            "error": {
                "message": "A request with this Idempotency-Key is still in "
                "progress. Retry once it has finished.",
                "type": "invalid_request_error",
                "param": None,
                "code": "conflict",
            }
        },
    )
    assert done.wait(10)
    thread.join(10)
    assert results["first"].status_code == 200
    assert events(results["first"])[-1] == "[DONE]"
    assert post(live, body).headers["Idempotent-Replayed"] == "true"
    assert Item.objects.count() == 2


def test_the_same_key_with_another_body_is_a_400(live):
    post(live, chat("First", store=True))
    response = post(live, chat("Second", store=True))
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": {
                "message": "This Idempotency-Key was already used with a "
                "different request body.",
                "type": "invalid_request_error",
                "param": "Idempotency-Key",
                "code": "invalid_value",
            }
        },
    )


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_failing_before_the_stream_releases_its_key(live, stream):
    body = chat(stream=stream, store=True, fake={"mode": "error_500"})
    assert post(live, body).status_code == 502
    assert not IdempotencyKey.objects.exists()
    sent = live.fake.recorder.total_requests
    assert post(live, body).status_code == 502  # the retry ran again
    assert live.fake.recorder.total_requests == sent + 1


def test_a_request_that_stored_nothing_releases_its_key(live):
    body = chat(stream=True, fake={"mode": "error_mid_stream", "drop_after": 3})
    assert "error" in events(post(live, body))[-1]
    assert not IdempotencyKey.objects.exists()


def test_a_request_that_ended_early_runs_again_on_a_retry(live):
    """Its partial turn stays stored (incomplete), but only a complete answer is
    ever replayed: the retry is a new request to the model."""
    body = chat(stream=True, store=True, fake={"mode": "drop_mid_stream"})
    original = events(post(live, body))
    (_ask, partial) = items_of(original[0]["conversation_id"])
    assert partial.status == "incomplete"
    sent = live.fake.recorder.total_requests
    retried = post(live, {**body, "fake": {}, "stream": False})
    assert "Idempotent-Replayed" not in retried.headers
    assert live.fake.recorder.total_requests == sent + 1
    assert retried.json()["choices"][0]["finish_reason"] == "stop"
    assert (
        post(live, {**body, "fake": {}, "stream": False}).headers["Idempotent-Replayed"]
        == "true"
    )


def test_a_disconnected_client_retrying_with_the_same_key_gets_a_whole_answer(live):
    """The cut turn is stored incomplete and the key released: the retry runs."""
    body = chat(stream=True, store=True, fake={"tokens": 500, "delay_ms": 20})
    headers = {**live.headers, "Idempotency-Key": KEY}
    with httpx.stream(
        "POST", f"{live.url}{PATH}", json=body, headers=headers, timeout=30
    ) as response:
        lines = response.iter_lines()
        first = json.loads(next(lines)[6:])
        for _ in range(5):
            next(lines)
    assert wait_for(
        lambda: Item.objects.filter(
            public_id=first["completion_item_id"], status="incomplete"
        ).exists()
    )
    assert not IdempotencyKey.objects.exists()
    retried = post(live, {**body, "fake": {"tokens": 5}})
    assert "Idempotent-Replayed" not in retried.headers
    parsed = events(retried)
    assert parsed[-1] == "[DONE]"
    (_ask, reply) = items_of(parsed[0]["conversation_id"])
    assert reply.status == "completed"


def test_keys_are_scoped_per_project(live, project):
    """Another project's request with the same key and body runs on its own."""
    other = key_api_for(project)
    first = post(live, chat("Same", store=True)).json()
    sent = live.fake.recorder.total_requests
    theirs = httpx.post(
        f"{live.url}{PATH}",
        json=chat("Same", store=True),
        headers={**other.headers, "Idempotency-Key": KEY},
        timeout=30,
    )
    assert theirs.status_code == 200
    assert "Idempotent-Replayed" not in theirs.headers
    assert live.fake.recorder.total_requests == sent + 1
    theirs_id = theirs.json()["metadata"]["conversation_id"]
    assert theirs_id != first["metadata"]["conversation_id"]
    assert Conversation.objects.get(public_id=theirs_id).project_id == project.pk
    assert IdempotencyKey.objects.count() == 2
    assert post(live, chat("Same", store=True)).json() == first


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_a_malformed_key_is_refused(live, key):
    response = httpx.post(
        f"{live.url}{PATH}",
        json=chat(),
        headers={**live.headers, "Idempotency-Key": key.encode("utf-8")},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Idempotency-Key"
