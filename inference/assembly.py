"""Rebuild the assistant message from a chat completion, streamed or whole.

The relay forwards upstream bytes untouched; features that store or re-shape the
answer (conversation-aware completions, the Responses API) also need the message
itself. `ChatAssembler` parses chat completion chunks (choice 0) into per-chunk
deltas and accumulates the final message: content, reasoning (vLLM's
`reasoning_content`, or `reasoning`), tool calls merged by `index`, finish reason and
usage.
"""

import json
import re
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

_DATA = b"data:"
_DONE = b"[DONE]"


@dataclass
class ToolCall:
    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""

    def as_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass
class ToolCallDelta:
    """One fragment of a tool call; `id` and `name` come with its first fragment."""

    index: int
    id: str
    name: str
    arguments: str


@dataclass
class Delta:
    """What one chunk added to choice 0."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallDelta] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass
class ChatAssembler:
    """Accumulates the assistant message of choice 0 (see the module docstring)."""

    content_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    tool_calls: dict[int, ToolCall] = field(default_factory=dict)
    _finish_reason: str | None = None
    _usage: dict[str, Any] | None = None
    _completion_id: str | None = None
    _tail: bytes = field(default=b"", repr=False)
    _collected: list[bytes] = field(default_factory=list, repr=False)
    # The bytes before the content of the last plain chunk (see settle()).
    _plain_head: bytes = field(default=b"", repr=False)

    @property
    def finish_reason(self) -> str | None:
        self.settle()
        return self._finish_reason

    @property
    def usage(self) -> dict[str, Any] | None:
        self.settle()
        return self._usage

    @property
    def completion_id(self) -> str | None:
        self.settle()
        return self._completion_id

    @property
    def content(self) -> str:
        self.settle()
        return "".join(self.content_parts)

    @property
    def reasoning(self) -> str:
        self.settle()
        return "".join(self.reasoning_parts)

    @property
    def empty(self) -> bool:
        self.settle()
        return not (self.content_parts or self.reasoning_parts or self.tool_calls)

    def calls(self) -> list[ToolCall]:
        """The tool calls in index order."""
        self.settle()
        return [self.tool_calls[index] for index in sorted(self.tool_calls)]

    def collect(self, data: bytes) -> None:
        """Keep SSE bytes for later: parsed all at once by settle().

        For a caller that needs only the final message (not per-chunk deltas): the
        relay's per-chunk path then only appends bytes.
        """
        self._collected.append(data)

    def settle(self) -> None:
        """Parse what collect() kept (every accessor does it first).

        vLLM's usual content chunks are read without a JSON parse: split at the bytes
        that end them, a chunk with the same head as the last one (same id, created,
        model) and a body without quotes or a final backslash is exactly that JSON
        string's body. Their bodies are decoded all at once (escapes never span two
        bodies). Any other event goes through _events(), in order.
        """
        if not self._collected:
            return
        data = self._tail + b"".join(self._collected)
        self._collected.clear()
        end = data.rfind(b"\n\n") + 2
        if end < 2:
            self._tail = data
            return
        complete, self._tail = data[:end], data[end:]
        segments = complete.split(_PLAIN_TAIL)
        plain: list[bytes] = []
        index, end, run_tried = 0, len(segments) - 1, False
        while index < end:
            head, segment = self._plain_head, segments[index]
            if head and _plain_segment(segment, head):
                # The first plain chunk: usually all the rest are too (checked at
                # once, in C), up to the finish reason and usage in the last segment.
                run = None if run_tried else _plain_run(segments[index:end], head)
                run_tried = True
                if run is not None:
                    plain += run
                    break
                plain.append(segment[len(head) :])
            else:
                self._events(segment + _PLAIN_TAIL, plain)
            index += 1
        if segments[-1]:
            self._events(segments[-1], plain)
        self._content_flush(plain)

    def _events(self, data: bytes, plain: list[bytes]) -> None:
        """Take whole events: vLLM's usual chunks matched (content bodies added to
        `plain`, the head of a plain one remembered; the opening chunk's role, the
        closing one's finish reason and the usage chunk too), any other parsed."""
        position, end = 0, len(data)
        while position < end:
            found = _PLAIN_EVENT.match(data, position)
            if found is not None:
                opening, body, finish = found.group(2, 3, 4)
                if self._completion_id is None:
                    self._completion_id = found.group(1).decode()
                if opening is None and finish is None:
                    self._plain_head = data[position : found.start(3)]
                plain.append(body)
                if finish is not None:
                    self._finish_reason = finish.decode()
                position = found.end()
                continue
            stop = data.find(b"\n\n", position)
            stop = end if stop < 0 else stop
            event, position = data[position:stop], stop + 2
            usage = _USAGE_EVENT.fullmatch(event)
            if usage is not None and isinstance(
                value := _payload_json(usage.group(1)), dict
            ):
                self._usage = value
                continue
            self._content_flush(plain)
            for line in event.split(b"\n"):
                if line.startswith(_DATA) and line[5:].strip() != _DONE:
                    chunk = _payload_json(line[5:])
                    if isinstance(chunk, dict):
                        self._absorb(chunk)

    def _content_flush(self, bodies: list[bytes]) -> None:
        """Append the text of matched content chunks (JSON string bodies)."""
        if not bodies:
            return
        joined = b"".join(bodies)
        if b"\\" not in joined:  # (invalid UTF-8 from upstream becomes U+FFFD)
            self.content_parts.append(joined.decode(errors="replace"))
        elif isinstance(text := _payload_json(b'"' + joined + b'"'), str):
            self.content_parts.append(text)
        else:  # a bad escape somewhere: leave out the bodies that do not decode
            good = [
                b for b in bodies if isinstance(_payload_json(b'"' + b + b'"'), str)
            ]
            text = _payload_json(b'"' + b"".join(good) + b'"')
            self.content_parts.append(text if isinstance(text, str) else "")
        bodies.clear()

    def _absorb(self, chunk: dict[str, Any]) -> None:
        """feed_chunk() without building deltas, for the usual content-only chunk."""
        choices: Any = chunk.get("choices")
        delta = choices[0].get("delta") if _plain_choice(choices) else None
        if type(delta) is not dict or set(delta) - _PLAIN_DELTA_KEYS:
            self.feed_chunk(chunk)
            return
        if self._completion_id is None and isinstance(chunk.get("id"), str):
            self._completion_id = chunk["id"]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        content = delta.get("content")
        if content and type(content) is str:
            self.content_parts.append(content)
        finish = choices[0].get("finish_reason")
        if finish and type(finish) is str:
            self._finish_reason = finish

    def message(self, *, with_reasoning: bool = True) -> dict[str, Any]:
        """The OpenAI assistant message assembled so far."""
        self.settle()
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if with_reasoning and self.reasoning_parts:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [call.as_openai() for call in self.calls()]
        return message

    def feed(self, data: bytes) -> list[Delta]:
        """Take SSE bytes (any split); return the deltas of the complete events in it."""
        data = self._tail + data if self._tail else data
        end = data.rfind(b"\n\n")
        if end < 0:
            self._tail = data
            return []
        complete, self._tail = data[:end], data[end + 2 :]
        deltas = []
        for event in complete.split(b"\n\n"):
            chunk = _event_json(event)
            if chunk is not None:
                delta = self.feed_chunk(chunk)
                if delta is not None:
                    deltas.append(delta)
        return deltas

    def feed_chunk(self, chunk: dict[str, Any]) -> Delta | None:
        """Take one parsed `chat.completion.chunk`; return what it added, if anything."""
        if self._completion_id is None and isinstance(chunk.get("id"), str):
            self._completion_id = chunk["id"]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choice = _choice_zero(chunk)
        if choice is None:
            return None
        delta_data = choice.get("delta")
        delta = Delta(finish_reason=_str_or_none(choice.get("finish_reason")))
        if isinstance(delta_data, dict):
            delta.content = _text(delta_data.get("content"))
            delta.reasoning = _text(
                delta_data.get("reasoning_content") or delta_data.get("reasoning")
            )
            delta.tool_calls = self._tool_call_deltas(delta_data.get("tool_calls"))
        self._add(delta)
        return delta

    def feed_completion(self, completion: dict[str, Any]) -> None:
        """Take a whole (non-stream) `chat.completion`."""
        if isinstance(completion.get("id"), str):
            self._completion_id = completion["id"]
        if isinstance(completion.get("usage"), dict):
            self._usage = completion["usage"]
        choice = _choice_zero(completion)
        if choice is None:
            return
        message = choice.get("message")
        delta = Delta(finish_reason=_str_or_none(choice.get("finish_reason")))
        if isinstance(message, dict):
            delta.content = _text(message.get("content"))
            delta.reasoning = _text(
                message.get("reasoning_content") or message.get("reasoning")
            )
            calls = message.get("tool_calls")
            if isinstance(calls, list):
                calls = [
                    {**call, "index": position}
                    for position, call in enumerate(calls)
                    if isinstance(call, dict)
                ]
            delta.tool_calls = self._tool_call_deltas(calls)
        self._add(delta)

    def _add(self, delta: Delta) -> None:
        if delta.content:
            self.content_parts.append(delta.content)
        if delta.reasoning:
            self.reasoning_parts.append(delta.reasoning)
        if delta.finish_reason:
            self._finish_reason = delta.finish_reason

    def _tool_call_deltas(self, calls: Any) -> list[ToolCallDelta]:
        if not isinstance(calls, list):
            return []
        deltas = []
        for call in calls:
            if not isinstance(call, dict):
                continue
            index = call.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                index = len(self.tool_calls)
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            current = self.tool_calls.setdefault(index, ToolCall(index=index))
            call_id = _text(call.get("id"))
            name = _text(function.get("name"))
            arguments = _text(function.get("arguments"))
            if call_id and not current.id:
                current.id = call_id
            if name and not current.name:
                current.name = name
            current.arguments += arguments
            deltas.append(
                ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)
            )
        return deltas


# Deltas that _absorb() takes as they are; any other key goes through feed_chunk().
_PLAIN_DELTA_KEYS = frozenset({"content", "role"})


def _plain_choice(choices: Any) -> bool:
    """Whether `choices` is the usual single choice 0."""
    return (
        type(choices) is list
        and len(choices) == 1
        and type(choices[0]) is dict
        and choices[0].get("index", 0) == 0
    )


# vLLM's usual event, byte for byte: one chunk whose one choice has only content in
# its delta (the opening chunk also the role, the closing one a finish reason). A raw
# quote cannot occur inside a JSON string (it would be escaped), so matching the bytes
# is exact; any other event (another layout, a field more) is parsed. Groups: the
# completion id, the role (opening), the content's JSON string body, the finish
# reason (closing).
_PLAIN_EVENT = re.compile(
    rb'data: ?\{"id":"([^"\\]*)","object":"chat\.completion\.chunk","created":\d+,'
    rb'"model":"[^"\\]*","choices":\[\{"index":0,"delta":\{("role":"assistant",)?'
    rb'"content":"((?:[^"\\]|\\.)*)"\},"logprobs":null,'
    rb'"finish_reason":(?:null|"([a-z_]+)"(?:,"stop_reason":null)?)\}\]\}[ \t]*\n\n'
)
# vLLM's usage chunk (no choices; flat token counts): only the usage is parsed.
_USAGE_EVENT = re.compile(
    rb'data: ?\{"id":"[^"\\]*","object":"chat\.completion\.chunk","created":\d+,'
    rb'"model":"[^"\\]*","choices":\[\],"usage":(\{[^{}]*\})\}[ \t]*'
)
_PLAIN_TAIL = b'"},"logprobs":null,"finish_reason":null}]}\n\n'


def _plain_segment(segment: bytes, head: bytes) -> bool:
    """Whether `segment` + _PLAIN_TAIL is a plain chunk with this head: the rest is a
    JSON string's body (no quote; a final backslash would escape the closing one)."""
    return (
        segment.startswith(head)
        and segment.find(b'"', len(head)) < 0
        and not segment.endswith(b"\\")
    )


def _plain_run(segments: list[bytes], head: bytes) -> list[bytes] | None:
    """The bodies of `segments` (joined when none holds an escape), if every one
    passes _plain_segment; else None. All in C: no Python step per segment."""
    if not all(map(bytes.startswith, segments, repeat(head))):
        return None
    bodies = list(map(itemgetter(slice(len(head), None)), segments))
    joined = b"".join(bodies)
    if b'"' in joined:
        return None
    if b"\\" not in joined:
        return [joined]
    if any(body.endswith(b"\\") for body in bodies):
        return None
    return bodies  # one by one: a bad escape then costs only its own chunk


def _payload_json(payload: bytes) -> Any:
    """Parse one event's JSON (orjson: five times faster than json on chunks)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses but json takes (NaN, integers over 64 bits)
        return json.loads(payload)
    except ValueError:
        return None


def _event_json(event: bytes) -> dict[str, Any] | None:
    for line in event.split(b"\n"):
        if line.startswith(_DATA):
            payload = line[5:].strip()
            if payload == _DONE:
                return None
            value = _payload_json(payload)
            return value if isinstance(value, dict) else None
    return None


def _choice_zero(chunk: dict[str, Any]) -> dict[str, Any] | None:
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
