"""ChatAssembler and CollectingAssembler: the assistant message rebuilt from chunks,
per chunk or all at once."""

import json

import pytest

from inference.assembly import ChatAssembler
from inference.collecting import CollectingAssembler
from inference.streaming import StreamState


def event(delta=None, *, finish=None, usage=None, choices=True, **extra):
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", **extra}
    if choices:
        chunk["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    else:
        chunk["choices"] = []
    if usage:
        chunk["usage"] = usage
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
STREAM = b"".join(
    [
        event({"role": "assistant", "content": ""}),
        event({"reasoning_content": "Think ", "reasoning": "Think "}),
        event({"reasoning_content": "hard.", "reasoning": "hard."}),
        event({"content": "Hello"}),
        event({"content": ', "world"\n'}),
        event(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": ""},
                    }
                ]
            }
        ),
        event({"tool_calls": [{"index": 0, "function": {"arguments": '{"q":'}}]}),
        event({"tool_calls": [{"index": 0, "function": {"arguments": '"x"}'}}]}),
        event({"content": "!", "x_unknown": 1}, finish="tool_calls"),
        event(choices=False, usage=USAGE),
        b"data: [DONE]\n\n",
    ]
)
MESSAGE = {
    "role": "assistant",
    "content": 'Hello, "world"\n!',
    "reasoning_content": "Think hard.",
    "tool_calls": [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q":"x"}'},
        }
    ],
}


def framed(data: bytes, size: int) -> list[bytes]:
    """`data` arriving `size` bytes at a time, as the relay's framer passes it on:
    batches of whole events."""
    framer = StreamState(strip_usage=False)
    batches = [
        framer.feed(data[start : start + size]) for start in range(0, len(data), size)
    ]
    return [batch for batch in batches if batch]


def fed(data: bytes, size: int) -> ChatAssembler:
    assembler = ChatAssembler()
    for batch in framed(data, size):
        assembler.feed(batch)
    return assembler


def collected(data: bytes, size: int) -> CollectingAssembler:
    assembler = CollectingAssembler()
    for batch in framed(data, size):
        assembler.collect(batch)
    return assembler


@pytest.mark.parametrize("build", [fed, collected])
@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_the_message_is_the_same_however_the_bytes_arrive(build, size):
    assembler = build(STREAM, size)
    assert assembler.message() == MESSAGE
    assert assembler.finish_reason == "tool_calls"
    assert assembler.usage == USAGE
    assert assembler.completion_id == "chatcmpl-1"


def test_feed_reports_what_each_chunk_added():
    deltas = ChatAssembler().feed(STREAM)
    assert [d.content for d in deltas if d.content] == ["Hello", ', "world"\n', "!"]
    assert "".join(d.reasoning for d in deltas) == "Think hard."
    fragments = [t for d in deltas for t in d.tool_calls]
    assert fragments[0].name == "lookup"
    assert "".join(t.arguments for t in fragments) == '{"q":"x"}'


def test_a_bad_event_is_skipped_when_collected():
    assembler = CollectingAssembler()
    assembler.collect(event({"content": "a"}) + b"data: {broken\n\n")
    assembler.collect(event({"content": "b"}))
    assert assembler.content == "ab"


def test_without_reasoning_and_for_a_whole_completion():
    assembler = collected(STREAM, 50)
    assert "reasoning_content" not in assembler.message(with_reasoning=False)
    whole = ChatAssembler()
    whole.feed_completion(
        {
            "id": "chatcmpl-2",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hi", "reasoning": "R"},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    )
    assert whole.message() == {
        "role": "assistant",
        "content": "Hi",
        "reasoning_content": "R",
    }
    assert whole.finish_reason == "stop"


def compact(delta, finish=None):
    chunk = {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        ],
    }
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'quote " and backslash \\ and \n newline',
        "unicode é 漢字 🙂",
        '"usage":{"prompt_tokens":1}',
        '},"logprobs":null,"finish_reason":null}]}',
        "ends with a backslash \\",
        '\\"',
        "",
    ],
)
def test_vllm_shaped_content_chunks_read_without_parsing_are_exact(text):
    """Plain content chunks (vLLM's compact shape) take a fast path; same result."""
    stream = (
        compact({"role": "assistant", "content": ""})
        + compact({"content": text})
        + compact({"content": text})
        + compact({"reasoning_content": "hm"})
        + compact({"content": text})
        + compact({"content": "!"})
        + compact({}, finish="stop")
        + b"data: [DONE]\n\n"
    )
    for size in (13, 100_000):
        assert collected(stream, size).message() == fed(stream, size).message()
        assert collected(stream, size).content == text * 3 + "!"
        assert collected(stream, size).reasoning == "hm"
        assert collected(stream, size).finish_reason == "stop"
    # A run of content chunks, taken at once when all are plain.
    run = compact({"role": "assistant", "content": ""}) + b"".join(
        compact({"content": part}) for part in ("x", "y", text, "z", text)
    )
    run += compact({}, finish="stop") + b"data: [DONE]\n\n"
    assert collected(run, 100_000).content == "xy" + text + "z" + text
    assert collected(run, 100_000).message() == fed(run, 7).message()


def test_fast_path_follows_a_new_head_and_ascii_escapes():
    """Chunks whose id changes mid-stream, \\u escapes (a surrogate pair split over
    two chunks, joined again) and a chunk with a bad escape (left out)."""
    other = compact({"content": "b"}).replace(b"chatcmpl-9", b"chatcmpl-10")
    stream = (
        compact({"content": "a"})
        + other
        + other
        + b'data: {"id":"chatcmpl-10","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"\\u00e9\\ud83d"},"logprobs":null,"finish_reason":null}]}\n\n'
        + b'data: {"id":"chatcmpl-10","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"\\ude42"},"logprobs":null,"finish_reason":null}]}\n\n'
        + b'data: {"id":"chatcmpl-10","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"bad \\q"},"logprobs":null,"finish_reason":null}]}\n\n'
        + compact({"content": "c"}).replace(b"chatcmpl-9", b"chatcmpl-10")
        + b"data: [DONE]\n\n"
    )
    assembler = collected(stream, 100_000)
    assert assembler.content == "abbé🙂c"
    assert assembler.completion_id == "chatcmpl-9"
    assert collected(stream, 7).content == "abbé🙂c"


def vllm(delta: str, finish: str = "null") -> bytes:
    return (
        b'data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":5,'
        b'"model":"m","choices":[{"index":0,"delta":{' + delta.encode() + b"},"
        b'"logprobs":null,"finish_reason":' + finish.encode() + b"}]}\n\n"
    )


VLLM_USAGE = (
    b'data: {"id":"chatcmpl-7","object":"chat.completion.chunk","created":5,'
    b'"model":"m","choices":[],"usage":{"prompt_tokens":3,"total_tokens":5,'
    b'"completion_tokens":2}}\n\n'
)


@pytest.mark.parametrize(
    "closing",
    [
        vllm('"content":""', '"stop","stop_reason":null'),
        vllm('"content":"."', '"length"'),
        vllm('"content":""', '"stop","stop_reason":151645'),  # parsed instead
    ],
)
def test_vllm_opening_closing_and_usage_chunks_read_without_parsing(closing):
    stream = (
        vllm('"role":"assistant","content":""')
        + vllm('"content":"Hi"')
        + vllm('"content":" there"')
        + closing
        + VLLM_USAGE
        + b"data: [DONE]\n\n"
    )
    expected = fed(stream, 5)
    assembler = collected(stream, 100_000)
    assert assembler.message() == expected.message()
    assert assembler.content.startswith("Hi there")
    assert assembler.finish_reason == expected.finish_reason
    assert assembler.finish_reason in {"stop", "length"}
    assert (
        assembler.usage
        == expected.usage
        == {
            "prompt_tokens": 3,
            "total_tokens": 5,
            "completion_tokens": 2,
        }
    )
    assert assembler.completion_id == "chatcmpl-7"
