"""Assembling the assistant message from SSE bytes kept as they were relayed, parsed
all at once at the end: the relay's per-chunk path then only appends bytes.

vLLM's usual chunks are read without a JSON parse (matched byte for byte), a run of
plain content chunks checked in C; any other event is parsed as ChatAssembler does.
"""

import re
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any

from inference.assembly import DATA, DONE, ChatAssembler, payload_json


@dataclass
class CollectingAssembler(ChatAssembler):
    """A ChatAssembler fed with collect(); parsed by settle() (see the module docstring)."""

    _collected: list[bytes] = field(default_factory=list, repr=False)
    # The bytes before the content of the last plain chunk (see settle()).
    _plain_head: bytes = field(default=b"", repr=False)

    def collect(self, data: bytes) -> None:
        """Keep whole SSE events (as the relay passes them on, framed by
        inference.streaming) for later: parsed all at once by settle().

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
        complete = b"".join(self._collected)
        self._collected.clear()
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
                value := payload_json(usage.group(1)), dict
            ):
                self._usage = value
                continue
            self._content_flush(plain)
            for line in event.split(b"\n"):
                if line.startswith(DATA) and line[5:].strip() != DONE:
                    chunk = payload_json(line[5:])
                    if isinstance(chunk, dict):
                        self._absorb(chunk)

    def _content_flush(self, bodies: list[bytes]) -> None:
        """Append the text of matched content chunks (JSON string bodies)."""
        if not bodies:
            return
        joined = b"".join(bodies)
        if b"\\" not in joined:  # (invalid UTF-8 from upstream becomes U+FFFD)
            self.content_parts.append(joined.decode(errors="replace"))
        elif isinstance(text := payload_json(b'"' + joined + b'"'), str):
            self.content_parts.append(text)
        else:  # a bad escape somewhere: leave out the bodies that do not decode
            good = [b for b in bodies if isinstance(payload_json(b'"' + b + b'"'), str)]
            text = payload_json(b'"' + b"".join(good) + b'"')
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
