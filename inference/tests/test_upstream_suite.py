"""The upstream suite: the flows users depend on, through a real gateway, against each
upstream (the fake vLLM, the local llama.cpp model, JANSERVER_UPSTREAM_URL).

Assertions hold for a real model: shapes, orders, finish reasons and token counts that
agree with usage, never the text itself (docs/upstreams.md lists what differs).
"""

import time
from typing import Any

import httpx
import pytest

from inference.localmodel.bootstrap import QUESTION
from inference.testing.upstreams import EXTERNAL, FAKE, probe

pytestmark = [pytest.mark.server, pytest.mark.upstream]

# Prompts a small model answers at length, so that a short max_tokens cuts them.
STORY = "Write a long story about a dragon who learns to fly."
COUNTING = "Count from 1 to 30, separated by commas."


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def request(upstream, text: str = QUESTION, **fields: Any) -> dict[str, Any]:
    """SDK arguments for a chat completion: greedy, bounded, steering the fake."""
    fake = fields.pop("fake", {})
    return {
        "model": upstream.upstream.model,
        "messages": messages(text),
        "temperature": 0,
        "max_tokens": 40,
        "extra_body": upstream.upstream.steer(**fake) or None,
        **fields,
    }


def assert_usage_adds_up(usage, *, max_tokens: int, finish_reason: str) -> None:
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens <= max_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if finish_reason == "length":
        assert usage.completion_tokens == max_tokens


def test_upstream_does_what_its_profile_says(upstream):
    """The declared capabilities of the fake and llama.cpp are what they do."""
    target = upstream.upstream
    if target.name == EXTERNAL:
        pytest.skip("an external upstream's capabilities are probed, not declared")
    assert probe(target.base_url, target.model) == target.capabilities


def test_chat_completion(upstream):
    """One choice with the assistant's text, a finish reason, usage that adds up,
    and a usage row with the same counts."""
    reply = upstream.openai().chat.completions.with_raw_response.create(
        **request(upstream)
    )
    completion = reply.parse()
    assert completion.object == "chat.completion"
    assert completion.model == upstream.upstream.model
    [choice] = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert_usage_adds_up(
        completion.usage, max_tokens=40, finish_reason=choice.finish_reason
    )
    row = upstream.usage_row(reply.headers["x-request-id"])
    assert (row.status, row.stream, row.client_disconnected) == ("ok", False, False)
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    )
    assert (row.provider_id, row.project_id) == (
        upstream.provider.pk,
        upstream.project.pk,
    )
    assert row.time_to_first_token_ms is not None


def chunks_of(upstream, **arguments: Any) -> tuple[str, list[Any]]:
    """Stream a chat completion with the SDK: the request id and the chunks."""
    client = upstream.openai()
    with client.chat.completions.with_streaming_response.create(
        stream=True, **arguments
    ) as response:
        return response.headers["x-request-id"], list(response.parse())


def content_of(chunks: list[Any]) -> tuple[str, int]:
    """The streamed text and the number of chunks that carried some."""
    parts = [c.choices[0].delta.content for c in chunks if c.choices]
    return "".join(p or "" for p in parts), sum(1 for p in parts if p)


def assert_one_stream(chunks: list[Any]) -> str:
    """One id, the role first, one finish reason on the last choice chunk; returns it."""
    assert {c.id for c in chunks} == {chunks[0].id}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    with_choices = [c for c in chunks if c.choices]
    assert {c.choices[0].index for c in with_choices} == {0}
    assert with_choices[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in with_choices]
    assert all(reason is None for reason in finishes[:-1])
    assert finishes[-1] in ("stop", "length")
    return finishes[-1]


def test_chat_stream_with_include_usage(upstream):
    """Chunks in order, then the usage chunk (no choices) when the upstream counts a
    stream; the usage row has the counts the client saw."""
    request_id, chunks = chunks_of(
        upstream,
        **request(upstream, stream_options={"include_usage": True}),
    )
    finish_reason = assert_one_stream(chunks)
    text, carrying = content_of(chunks)
    assert text.strip()
    row = upstream.usage_row(request_id)
    assert (row.status, row.stream) == ("ok", True)
    if upstream.upstream.capabilities.stream_usage:
        *_, last = chunks
        assert last.choices == []
        assert_usage_adds_up(last.usage, max_tokens=40, finish_reason=finish_reason)
        assert last.usage.completion_tokens >= carrying
        assert (row.prompt_tokens, row.completion_tokens) == (
            last.usage.prompt_tokens,
            last.usage.completion_tokens,
        )
    else:
        # The gateway relays usage; it does not invent it. Its row counts the events.
        assert all(c.usage is None for c in chunks)
        assert row.completion_tokens >= carrying


def test_chat_stream_without_include_usage_still_counts(upstream):
    """No usage chunk reaches a client that did not ask; the row still counts: the
    upstream's usage (asked for anyway) when it sends one."""
    request_id, chunks = chunks_of(
        upstream, **request(upstream, STORY, max_tokens=8, fake={"tokens": 30})
    )
    assert assert_one_stream(chunks) == "length"
    assert all(c.usage is None and c.choices for c in chunks)
    _, carrying = content_of(chunks)
    row = upstream.usage_row(request_id)
    if upstream.upstream.capabilities.stream_usage:
        assert row.prompt_tokens > 0
        assert row.completion_tokens == 8
    else:
        assert row.completion_tokens >= carrying


def test_max_tokens_ends_with_finish_reason_length(upstream):
    """A reply cut by max_tokens says `length` and counts exactly max_tokens."""
    completion = upstream.openai().chat.completions.create(
        **request(upstream, STORY, max_tokens=6, fake={"tokens": 30})
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content
    assert_usage_adds_up(completion.usage, max_tokens=6, finish_reason="length")


def stop_word(text: str) -> str:
    """A word of `text` past its start: a stop sequence the reply will meet."""
    words = [word for word in text.split() if text.index(word) > 0]
    assert words, f"too short a reply to pick a stop sequence from: {text!r}"
    return words[len(words) // 2]


def test_stop_sequence_ends_the_reply_before_it(upstream):
    """The same greedy reply, asked again with one of its words as a stop sequence,
    ends just before that word with finish_reason `stop` (streamed and not)."""
    client = upstream.openai()
    arguments = request(upstream, COUNTING, max_tokens=24)
    full = client.chat.completions.create(**arguments).choices[0].message.content
    stop = stop_word(full)
    expected = full[: full.index(stop)]
    stopped = client.chat.completions.create(**arguments, stop=[stop])
    assert stopped.choices[0].message.content == expected
    assert stopped.choices[0].finish_reason == "stop"
    _, chunks = chunks_of(upstream, **arguments, stop=[stop])
    assert assert_one_stream(chunks) == "stop"
    assert content_of(chunks)[0] == expected


def test_text_completions_stream_and_not(upstream):
    """/v1/completions: a text choice with usage; streamed, text chunks in order and
    one finish reason last (then usage when the upstream counts a stream)."""
    client = upstream.openai()
    arguments = {
        "model": upstream.upstream.model,
        "prompt": "The capital of France is",
        "max_tokens": 8,
        "temperature": 0,
        "extra_body": upstream.upstream.steer() or None,
    }
    completion = client.completions.create(**arguments)
    assert completion.object == "text_completion"
    [choice] = completion.choices
    assert choice.text
    assert choice.finish_reason in ("stop", "length")
    assert_usage_adds_up(
        completion.usage, max_tokens=8, finish_reason=choice.finish_reason
    )
    parts = list(
        client.completions.create(
            **arguments, stream=True, stream_options={"include_usage": True}
        )
    )
    with_choices = [p for p in parts if p.choices]
    assert {p.id for p in parts} == {parts[0].id}
    assert "".join(p.choices[0].text for p in with_choices)
    finishes = [p.choices[0].finish_reason for p in with_choices]
    assert all(reason is None for reason in finishes[:-1])
    assert finishes[-1] in ("stop", "length")
    if upstream.upstream.capabilities.stream_usage:
        assert parts[-1].choices == []
        assert_usage_adds_up(parts[-1].usage, max_tokens=8, finish_reason=finishes[-1])


def test_n_choices_stream_and_not(upstream):
    """`n: 2` answers two choices, each with its own finish reason."""
    if not upstream.upstream.capabilities.multiple_choices:
        pytest.skip(f"{upstream.upstream.name} answers one choice whatever n")
    client = upstream.openai()
    arguments = request(upstream, STORY, max_tokens=6, temperature=1.0, n=2)
    completion = client.chat.completions.create(**arguments)
    assert sorted(c.index for c in completion.choices) == [0, 1]
    assert all(c.finish_reason == "length" for c in completion.choices)
    assert completion.usage.completion_tokens == 12
    _, chunks = chunks_of(upstream, **arguments)
    finishes: dict[int, list[str | None]] = {0: [], 1: []}
    for chunk in chunks:
        for choice in chunk.choices:
            finishes[choice.index].append(choice.finish_reason)
    for reasons in finishes.values():
        assert reasons[-1] == "length"
        assert all(reason is None for reason in reasons[:-1])


def test_client_disconnect_mid_stream_is_recorded(upstream):
    """A client that leaves mid-stream ends the upstream request, and its usage row
    says so, with the tokens relayed until then."""
    body = request(
        upstream, STORY, max_tokens=1000, fake={"tokens": 500, "delay_ms": 20}
    )
    body["stream"] = True
    body.update(body.pop("extra_body") or {})
    with httpx.stream(
        "POST",
        f"{upstream.url}/v1/chat/completions",
        json=body,
        headers=upstream.headers,
        timeout=180,
    ) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
    row = upstream.usage_row(request_id)
    assert (row.status, row.client_disconnected, row.stream) == (
        "disconnected",
        True,
        True,
    )
    assert 0 < row.completion_tokens < 1000
    if upstream.upstream.name == FAKE:
        sent = upstream.fake.recorder.last
        deadline = time.monotonic() + 30
        while sent.outcome != "disconnected" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sent.outcome == "disconnected"
        assert sent.chunks_sent < 250
