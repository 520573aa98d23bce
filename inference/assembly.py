"""Rebuild the assistant message from a chat completion, streamed or whole.

The relay forwards upstream bytes untouched; features that store or re-shape the
answer (conversation-aware completions, the Responses API) also need the message
itself. `ChatAssembler` parses chat completion chunks (choice 0) into per-chunk
deltas and accumulates the final message: content, reasoning (vLLM's
`reasoning_content`, or `reasoning`), tool calls merged by `index`, finish reason and
usage. inference.collecting.CollectingAssembler parses them all at once at the end
instead, for callers that need only the final message.
"""

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

DATA = b"data:"
DONE = b"[DONE]"


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

    def settle(self) -> None:
        """Bring the message up to date with what came in (every accessor calls it
        first); here everything is parsed as it comes (see CollectingAssembler)."""

    def message(self, *, with_reasoning: bool = True) -> dict[str, Any]:
        """The OpenAI assistant message assembled so far."""
        self.settle()
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if with_reasoning and self.reasoning_parts:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [call.as_openai() for call in self.calls()]
        return message

    def feed(self, events: bytes) -> list[Delta]:
        """Take whole SSE events (as the relay passes them on, framed by
        inference.streaming); return what each added."""
        deltas = []
        for event in events.split(b"\n\n"):
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


def payload_json(payload: bytes) -> Any:
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
        if line.startswith(DATA):
            payload = line[5:].strip()
            if payload == DONE:
                return None
            value = payload_json(payload)
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
