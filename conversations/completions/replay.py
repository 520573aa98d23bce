"""Answering a retry from a stored Idempotency-Key result: JSON, or a short SSE stream."""

import json
from typing import Any

from conversations.completions.observer import metadata_event
from janserver.http.answers import Answer
from janserver.http.pumped import Write

REPLAY_HEADER = "Idempotent-Replayed"
DONE = b"data: [DONE]\n\n"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _event(value: dict[str, Any]) -> bytes:
    return b"data: " + _dumps(value) + b"\n\n"


def _delta(message: dict[str, Any]) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("reasoning_content"):
        delta["reasoning_content"] = message["reasoning_content"]
    calls = message.get("tool_calls")
    if calls:
        delta["tool_calls"] = [
            {**call, "index": index} for index, call in enumerate(calls)
        ]
    return delta


def replay_events(result: dict[str, Any], *, wants_usage: bool) -> bytes:
    """Return the SSE body replaying a stored answer: the metadata event, one chunk
    with the whole message, the finish chunk, usage when asked, then [DONE]."""
    completion = result["completion"]
    choice = completion["choices"][0]
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }
    message = {"index": 0, "delta": _delta(choice["message"]), "finish_reason": None}
    finish = {"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason")}
    events = [
        metadata_event(result["metadata"]),
        _event({**head, "choices": [message]}),
        _event({**head, "choices": [finish]}),
    ]
    if wants_usage and completion.get("usage"):
        events.append(_event({**head, "choices": [], "usage": completion["usage"]}))
    events.append(DONE)
    return b"".join(events)


def replay_answer(result: dict[str, Any], *, stream: bool, wants_usage: bool) -> Answer:
    """Return the answer to a retry: what the first request answered, again."""
    headers = {REPLAY_HEADER: "true"}
    if stream:
        events = replay_events(result, wants_usage=wants_usage)

        async def pump(write: Write) -> None:
            await write(events)

        return Answer(pump=pump, headers=headers)
    body = {**result["completion"], "metadata": result["metadata"]}
    return Answer(body=_dumps(body), headers=headers)
