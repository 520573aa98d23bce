"""Pre-encoded SSE events and JSON bodies of the fake vLLM server.

Each event is built from byte templates prepared once per response, so a plain
content token costs one bytes concatenation and no JSON encoding.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

from inference.testing.fake_vllm_logprobs import (
    WORDS,
    chat_logprob,
    chat_logprobs_bytes,
    completion_logprobs,
    fake_text,
)
from inference.testing.fake_vllm_plan import Plan

THOUGHTS = (" Let", " me", " think", " this", " through", " step", " by", " step", ".")
EXTRA_TOP = {"x_fake": {"relay": "lossless"}}
EXTRA_CHOICE = {"x_fake_choice": "kept"}
EXTRA_DELTA = {"x_fake_delta": "kept"}
DONE = b"data: [DONE]\n\n"
TICK = None  # an inter-token delay in an event sequence

Event = bytes | None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _members(extra: dict[str, Any]) -> bytes:
    """Encode a dict as `,"key":value` members to splice into an object."""
    return b"".join(
        b"," + _dumps(key) + b":" + _dumps(value) for key, value in extra.items()
    )


_WORD_BYTES = tuple(_dumps(word)[1:-1] for word in WORDS)
_THOUGHT_BYTES = tuple(_dumps(word)[1:-1] for word in THOUGHTS)


class _Response:
    """Shared templates of one completion response: ids, top-level members, usage."""

    object_name = b""
    id_prefix = ""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.id = self.id_prefix + os.urandom(16).hex()
        self.created = int(time.time())
        self._extra_choice = _members(EXTRA_CHOICE) if plan.extra else b""
        self._top = b"".join((
            b'data: {"id":"', self.id.encode(), b'","object":"', self.object_name,
            b'","created":', str(self.created).encode(), b',"model":', _dumps(plan.model),
            _members(EXTRA_TOP) if plan.extra else b"", b',"choices":[',
        ))  # fmt: skip

    @property
    def completion_tokens(self) -> int:
        return self.plan.reasoning_count + self.plan.content_tokens

    def usage(self) -> dict[str, int]:
        completion = self.completion_tokens
        prompt = self.plan.prompt_tokens
        return {
            "prompt_tokens": prompt,
            "total_tokens": prompt + completion,
            "completion_tokens": completion,
        }

    def usage_event(self) -> bytes:
        return self._top + b'],"usage":' + _dumps(self.usage()) + b"}\n\n"

    def events(self, ticks: bool) -> Iterator[Event]:
        """Yield the SSE events; TICK between tokens when `ticks` is set."""
        yield from self._opening()
        tokens = self._tokens()
        for event in tokens:
            yield event
            break
        for event in tokens:
            if ticks:
                yield TICK
            yield event
        yield self._finish()
        if self.plan.include_usage:
            yield self.usage_event()
        yield DONE

    def _object(self, choice: dict[str, Any], name: str) -> dict[str, Any]:
        if self.plan.extra:
            choice.update(EXTRA_CHOICE)
        body = {
            "id": self.id,
            "object": name,
            "created": self.created,
            "model": self.plan.model,
            "choices": [choice],
            "usage": self.usage(),
        }
        return {**body, **EXTRA_TOP} if self.plan.extra else body

    def _opening(self) -> Iterator[bytes]:
        return iter(())

    def _tokens(self) -> Iterator[bytes]:
        raise NotImplementedError

    def _finish(self) -> bytes:
        raise NotImplementedError

    def body(self) -> bytes:
        """Return the non-stream response body."""
        raise NotImplementedError


class ChatResponse(_Response):
    """A `chat.completion` response, or its `chat.completion.chunk` events."""

    object_name = b"chat.completion.chunk"
    id_prefix = "chatcmpl-"

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self._choice = self._top + b'{"index":0' + self._extra_choice + b',"delta":{'
        self._delta_extra = _members(EXTRA_DELTA) if plan.extra else b""
        self._content = self._choice + b'"content":"'
        self._after = (
            b'"' + self._delta_extra + b'},"logprobs":null,"finish_reason":null}]}\n\n'
        )
        self.tool_ids = [
            "chatcmpl-tool-" + os.urandom(16).hex() for _ in range(plan.tool_calls)
        ]

    @property
    def completion_tokens(self) -> int:
        tool_tokens = len(self.tool_ids) * (1 + len(self.plan.tool_arguments))
        return super().completion_tokens + tool_tokens

    def chunk(self, delta: bytes, logprobs: bytes = b"null") -> bytes:
        """Return one chunk event whose delta has the members `delta`."""
        return b"".join((
            self._choice, delta, self._delta_extra, b'},"logprobs":', logprobs,
            b',"finish_reason":null}]}\n\n',
        ))  # fmt: skip

    def _opening(self) -> Iterator[bytes]:
        yield self.chunk(b'"role":"assistant","content":""')

    def _tokens(self) -> Iterator[bytes]:
        for i in range(self.plan.reasoning_count):
            word = _THOUGHT_BYTES[i % len(_THOUGHT_BYTES)]
            yield self.chunk(
                b'"reasoning_content":"%s","reasoning":"%s"' % (word, word)
            )
        top = self.plan.logprobs
        for i in range(self.plan.content_count):
            word = _WORD_BYTES[i % len(_WORD_BYTES)]
            if top is None:
                yield self._content + word + self._after
            else:
                content = b'"content":"' + word + b'"'
                yield self.chunk(content, chat_logprobs_bytes(i, top))
        if self.plan.content_tail:
            yield self.chunk(b'"content":' + _dumps(self.plan.content_tail))
        for index, tool_id in enumerate(self.tool_ids):
            yield from self._tool_call(index, tool_id)

    def _tool_call(self, index: int, tool_id: str) -> Iterator[bytes]:
        """Yield hermes-style deltas: id, type and name first, then arguments."""
        function: dict[str, str] = {"name": self.plan.tool_name}
        head = {"id": tool_id, "type": "function", "index": index, "function": function}
        yield self.chunk(b'"tool_calls":' + _dumps([head]))
        for fragment in self.plan.tool_arguments:
            delta = {"index": index, "function": {"arguments": fragment}}
            yield self.chunk(b'"tool_calls":' + _dumps([delta]))

    def _finish(self) -> bytes:
        return b"".join((
            self._choice, b'"content":""', self._delta_extra,
            b'},"logprobs":null,"finish_reason":"', self.plan.finish_reason.encode(),
            b'","stop_reason":', _dumps(self.plan.stop_reason), b"}]}\n\n",
        ))  # fmt: skip

    def body(self) -> bytes:
        plan = self.plan
        logprobs = None
        if plan.logprobs is not None:
            indexes = range(plan.content_count)
            logprobs = {"content": [chat_logprob(i, plan.logprobs) for i in indexes]}
        choice = {
            "index": 0,
            "message": self._message(),
            "logprobs": logprobs,
            "finish_reason": plan.finish_reason,
            "stop_reason": plan.stop_reason,
        }
        return _dumps(self._object(choice, "chat.completion"))

    def _message(self) -> dict[str, Any]:
        plan = self.plan
        text = fake_text(plan.content_count) + plan.content_tail
        content = text if text or not self.tool_ids else None
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if plan.reasoning_count:
            thought = fake_text(plan.reasoning_count, THOUGHTS)
            message.update(reasoning_content=thought, reasoning=thought)
        if self.tool_ids:
            message["tool_calls"] = [
                self._tool_object(tool_id) for tool_id in self.tool_ids
            ]
        return message

    def _tool_object(self, tool_id: str) -> dict[str, Any]:
        arguments = "".join(self.plan.tool_arguments)
        function = {"name": self.plan.tool_name, "arguments": arguments}
        return {"id": tool_id, "type": "function", "function": function}


class CompletionResponse(_Response):
    """A legacy `text_completion` response, or its stream events."""

    object_name = b"text_completion"
    id_prefix = "cmpl-"

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self._choice = self._top + b'{"index":0' + self._extra_choice + b',"text":"'
        self._after = (
            b'","logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'
        )

    def _tokens(self) -> Iterator[bytes]:
        top = self.plan.logprobs
        for i in range(self.plan.content_count):
            word = _WORD_BYTES[i % len(_WORD_BYTES)]
            if top is None:
                yield self._choice + word + self._after
            else:
                logprobs = _dumps(completion_logprobs(i, 1, top))
                yield b"".join((
                    self._choice, word, b'","logprobs":', logprobs,
                    b',"finish_reason":null,"stop_reason":null}]}\n\n',
                ))  # fmt: skip
        if self.plan.content_tail:
            yield self._choice + _dumps(self.plan.content_tail)[1:-1] + self._after

    def _finish(self) -> bytes:
        return b"".join((
            self._choice, b'","logprobs":null,"finish_reason":"',
            self.plan.finish_reason.encode(), b'","stop_reason":',
            _dumps(self.plan.stop_reason), b"}]}\n\n",
        ))  # fmt: skip

    def body(self) -> bytes:
        plan = self.plan
        logprobs = None
        if plan.logprobs is not None:
            logprobs = completion_logprobs(0, plan.content_count, plan.logprobs)
        choice = {
            "index": 0,
            "text": fake_text(plan.content_count) + plan.content_tail,
            "logprobs": logprobs,
            "finish_reason": plan.finish_reason,
            "stop_reason": plan.stop_reason,
            "prompt_logprobs": None,
        }
        return _dumps(self._object(choice, "text_completion"))
