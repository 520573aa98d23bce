"""The SSE side copy: events forwarded untouched, usage stripped only when not asked."""

import asyncio
import json

import pytest

from inference.streaming import (
    HEARTBEAT,
    ClosingSSEWriter,
    SSEWriter,
    StreamState,
    done_at,
    first_event_valid,
    relay,
)
from janserver.errors import UpstreamError, UpstreamTimeout

CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"


def test_events_split_across_chunks_are_forwarded_whole():
    state = StreamState(strip_usage=False)
    stream = CHUNK + CHUNK + DONE
    out = b"".join(state.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    assert out == stream
    assert state.done


@pytest.mark.parametrize("strip", [True, False])
def test_usage_is_read_and_stripped_only_when_not_asked(strip):
    state = StreamState(strip_usage=strip)
    out = state.feed(CHUNK + USAGE + DONE)
    assert state.usage == {"prompt_tokens": 3, "completion_tokens": 2}
    assert out == (CHUNK + DONE if strip else CHUNK + USAGE + DONE)


@pytest.mark.parametrize(
    "bad",
    [b"data: not json\n\n", b'data: {"choices": [\n\n', b"<html>oops</html>\n\n"],
)
def test_garbage_events_stop_the_stream(bad):
    state = StreamState(strip_usage=True)
    out = state.feed(CHUNK + bad + DONE)
    assert isinstance(state.error, UpstreamError)
    assert bad not in out


def test_an_upstream_error_event_becomes_ours():
    state = StreamState(strip_usage=True)
    out = state.feed(
        CHUNK + b'data: {"error":{"message":"CUDA OOM on gpu-node-7"}}\n\n' + DONE
    )
    assert out == CHUNK
    assert state.error.message == "The model server failed while generating."


@pytest.mark.parametrize(
    ("chunk", "valid"),
    [
        (CHUNK, True),
        (b": ping\n\n", True),
        (b"data: {broken\n\n", False),
        (b"<html>", False),
        (b'data: {"cho', True),
    ],
)
def test_first_event_check(chunk, valid):
    assert first_event_valid(chunk) is valid


def _reader(*items, pause=0.0):
    """A read(wait) over `items`: None while a pause outlasts `wait`, b"" at the end."""
    pending = list(items)
    waited = [0.0]

    async def read(wait):
        if not pending:
            return b""
        if waited[0] + wait < pause:
            await asyncio.sleep(wait)
            waited[0] += wait
            return None
        await asyncio.sleep(max(0.0, pause - waited[0]))
        waited[0] = 0.0
        item = pending.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return read


async def collect(read, state, prefix=b"", on_events=None):
    """What a client gets from relay() through an SSEWriter."""
    parts = []

    async def write(data):
        parts.append(data)

    writer = SSEWriter(write, on_events, prefix)
    await relay(read, state, writer)
    await writer.end(state)
    return parts


PREFIX = b'data: {"conversation_id":"conv_1"}\n\n'


async def test_the_prefix_goes_out_with_the_first_events():
    seen = []
    reader = _reader(CHUNK, DONE)
    parts = await collect(reader, StreamState(strip_usage=True), PREFIX, seen.append)
    assert parts == [PREFIX + CHUNK, DONE]
    assert seen == [CHUNK, DONE]  # the observer sees the upstream's events only


async def test_the_prefix_goes_out_with_a_first_heartbeat_or_error(settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.02
    parts = await collect(
        _reader(CHUNK, DONE, pause=0.07), StreamState(strip_usage=True), PREFIX
    )
    assert parts[0] == PREFIX + HEARTBEAT
    assert parts.count(PREFIX + HEARTBEAT) == 1
    assert b"".join(parts).count(PREFIX) == 1
    failed = await collect(
        _reader(UpstreamTimeout("The model server stopped sending.")),
        StreamState(strip_usage=True),
        PREFIX,
    )
    assert len(failed) == 1
    assert failed[0].startswith(PREFIX + b"data: ")
    assert b"upstream_timeout" in failed[0]


async def test_relay_ends_with_one_error_event_and_no_done_on_failure():
    state = StreamState(strip_usage=True)
    parts = await collect(
        _reader(CHUNK, UpstreamTimeout("The model server stopped sending.")), state
    )
    assert parts[0] == CHUNK
    error = json.loads(parts[-1][6:])["error"]
    assert error["code"] == "upstream_timeout"
    assert b"[DONE]" not in b"".join(parts)


async def test_relay_reports_a_stream_that_ends_without_done():
    parts = await collect(_reader(CHUNK), StreamState(strip_usage=True))
    assert json.loads(parts[-1][6:])["error"]["code"] == "bad_upstream_response"


async def test_relay_sends_heartbeats_during_silence(settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.02
    parts = await collect(
        _reader(CHUNK, DONE, pause=0.07), StreamState(strip_usage=True)
    )
    assert HEARTBEAT in parts
    assert parts[-1].endswith(DONE)


@pytest.mark.parametrize(
    "batch",
    [
        CHUNK * 5,
        CHUNK + b": ping\n\n" + CHUNK,
        b'event: message\ndata: {"choices":[]}\n\n' + CHUNK,
        b'data:{"choices":[]}\n\n' + CHUNK,
    ],
)
def test_batches_of_valid_events_are_forwarded_whole(batch):
    state = StreamState(strip_usage=True)
    assert state.feed(batch) == batch
    assert state.error is None
    assert state.data_events == batch.count(b"\n\n")


@pytest.mark.parametrize(
    "batch",
    [
        CHUNK + b'data: {"choices": [\n\n' + CHUNK,
        CHUNK + b"data: {}\nnot a field\n\n",
        CHUNK + b"garbage\n\n",
    ],
)
def test_one_bad_event_in_a_batch_stops_the_stream(batch):
    state = StreamState(strip_usage=True)
    assert state.feed(batch) == b""
    assert isinstance(state.error, UpstreamError)


CLOSING = b'data: {"choices":[],"conversation":{"id":"conv_1"}}\n\n'
# Text that looks like [DONE] inside a JSON string is not the end of the stream.
LOOKALIKE = b'data: {"choices":[{"delta":{"content":"x\\n\\ndata: [DONE]"}}]}\n\n'


async def _closed(*chunks, seen=None) -> list[bytes]:
    parts: list[bytes] = []

    async def write(data: bytes) -> None:
        parts.append(data)

    calls = []

    def closing() -> bytes:
        calls.append(len(seen) if seen is not None else 0)
        return CLOSING

    state = StreamState(strip_usage=True)
    writer = ClosingSSEWriter(write, seen.append if seen else None, b"", closing)
    await relay(_reader(*chunks), state, writer)
    await writer.end(state)
    assert len(calls) <= 1
    return parts


@pytest.mark.parametrize(
    "chunks",
    [(CHUNK, DONE), (CHUNK + DONE,), (LOOKALIKE, CHUNK + USAGE + DONE)],
)
async def test_the_closing_events_go_just_before_done_once(chunks):
    seen: list[bytes] = [b""]
    parts = await _closed(*chunks, seen=seen)
    body = b"".join(parts)
    assert body.endswith(CLOSING + DONE)
    assert body.count(CLOSING) == 1
    assert body.replace(CLOSING, b"") == b"".join(chunks).replace(USAGE, b"")
    assert CLOSING not in b"".join(seen)  # the observer sees the upstream's only


async def test_a_failed_stream_gets_no_closing_events():
    parts = await _closed(CHUNK, UpstreamTimeout("The model server stopped sending."))
    assert CLOSING not in b"".join(parts)
    assert json.loads(parts[-1][6:])["error"]["code"] == "upstream_timeout"


def test_done_at_finds_only_an_event_start():
    assert done_at(DONE) == 0
    assert done_at(CHUNK + DONE) == len(CHUNK)
    assert done_at(LOOKALIKE) == -1
    assert done_at(LOOKALIKE + DONE) == len(LOOKALIKE)
