"""Deterministic fake logprobs, in vLLM's chat and legacy completion formats."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

WORDS = (" Hello", " from", " the", " fake", " vLLM", " server", ".")


def fake_text(count: int, words: tuple[str, ...] = WORDS) -> str:
    """Return the text of the first `count` generated tokens."""
    return "".join(words[i % len(words)] for i in range(count))


def _text_offset(index: int) -> int:
    cycles, rest = divmod(index, len(WORDS))
    return cycles * len(_CYCLE) + len(fake_text(rest))


_CYCLE = fake_text(len(WORDS))


def _logprob(index: int) -> float:
    return -round(0.05 * (1 + index % len(WORDS)), 2)


def chat_logprob(index: int, top: int) -> dict[str, Any]:
    """Return the OpenAI chat logprob entry of the token at `index`."""
    return _chat_logprob(index % len(WORDS), top)


@cache
def _chat_logprob(index: int, top: int) -> dict[str, Any]:
    alternatives = [index + offset for offset in range(top)]
    return {
        **_token_logprob(index),
        "top_logprobs": [_token_logprob(alt, alt - index) for alt in alternatives],
    }


def _token_logprob(index: int, rank: int = 0) -> dict[str, Any]:
    word = WORDS[index % len(WORDS)]
    value = _logprob(index) - rank
    return {"token": word, "logprob": value, "bytes": list(word.encode())}


@cache
def chat_logprobs_bytes(index: int, top: int) -> bytes:
    """Return the encoded `logprobs` of one chat chunk (cached: a hot path)."""
    content = {"content": [_chat_logprob(index % len(WORDS), top)]}
    return json.dumps(content, separators=(",", ":")).encode()


def completion_logprobs(start: int, count: int, top: int) -> dict[str, Any]:
    """Return legacy completion logprobs of the tokens start..start+count."""
    indexes = range(start, start + count)
    entries = [chat_logprob(i, top) for i in indexes]
    return {
        "text_offset": [_text_offset(i) for i in indexes],
        "token_logprobs": [entry["logprob"] for entry in entries],
        "tokens": [entry["token"] for entry in entries],
        "top_logprobs": [
            {alt["token"]: alt["logprob"] for alt in entry["top_logprobs"]}
            for entry in entries
        ],
    }
