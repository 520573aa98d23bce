"""Typed Responses stream events: numbering, SSE framing, and the output they build.

`OutputBuilder` turns the deltas of an upstream chat stream (inference.assembly) into
the Responses events of reasoning, message and function call items, and keeps the
output items they add up to.
"""

import json
from typing import Any

from inference.assembly import Delta, ToolCallDelta
from janserver.ids import new_id, new_item_id

Event = dict[str, Any]

TERMINAL_TYPES = frozenset(
    {"response.completed", "response.incomplete", "response.failed"}
)


class Sequencer:
    """Numbers events from 0, strictly increasing."""

    def __init__(self) -> None:
        self.next_number = 0

    def event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self.next_number, **fields}
        self.next_number += 1
        return event


def sse(event: Event) -> bytes:
    """Frame one event as OpenAI does: `event: <type>` and `data: <json>`."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


class OutputBuilder:
    """Output items and their events from chat deltas (see the module docstring)."""

    def __init__(self, sequencer: Sequencer) -> None:
        self.seq = sequencer
        self.items: list[dict[str, Any]] = []
        self._open: int | None = None  # the open reasoning or message item
        self._calls: dict[int, int] = {}  # open tool call index -> output index

    def feed(self, delta: Delta) -> list[Event]:
        """Return the events of one chunk's delta."""
        events: list[Event] = []
        if delta.reasoning:
            events += self._text("reasoning", delta.reasoning)
        if delta.content:
            events += self._text("message", delta.content)
        for call in delta.tool_calls:
            events += self._call(call)
        return events

    def close(self, status: str) -> list[Event]:
        """Close every open item with `status` (completed or incomplete)."""
        events = self._close_text(status)
        for position in list(self._calls.values()):
            events += self._close_call(position, status)
        self._calls.clear()
        return events

    # Reasoning and message items: one content part each.

    def _text(self, kind: str, text: str) -> list[Event]:
        events: list[Event] = []
        if self._open is None or self.items[self._open]["type"] != kind:
            events += self.close("completed")
            events += self._open_text(kind)
        position = self._open if self._open is not None else len(self.items) - 1
        item = self.items[position]
        item["content"][0]["text"] += text
        name = "reasoning_text" if kind == "reasoning" else "output_text"
        extra: dict[str, Any] = {} if kind == "reasoning" else {"logprobs": []}
        events.append(
            self.seq.event(
                f"response.{name}.delta",
                item_id=item["id"],
                output_index=position,
                content_index=0,
                delta=text,
                **extra,
            )
        )
        return events

    def _open_text(self, kind: str) -> list[Event]:
        if kind == "reasoning":
            item: dict[str, Any] = {"type": "reasoning", "summary": []}
            part: dict[str, Any] = {"type": "reasoning_text", "text": ""}
        else:
            item = {"type": "message", "role": "assistant"}
            part = {
                "type": "output_text",
                "text": "",
                "annotations": [],
                "logprobs": [],
            }
        item = {"id": new_item_id(), **item, "status": "in_progress", "content": []}
        self._open = position = len(self.items)
        self.items.append(item)
        added = self.seq.event(
            "response.output_item.added", output_index=position, item=_copy(item)
        )
        item["content"].append(part)
        part_added = self.seq.event(
            "response.content_part.added",
            item_id=item["id"],
            output_index=position,
            content_index=0,
            part=dict(part),
        )
        return [added, part_added]

    def _close_text(self, status: str) -> list[Event]:
        position, self._open = self._open, None
        if position is None:
            return []
        item = self.items[position]
        part = item["content"][0]
        item["status"] = status
        ids = {"item_id": item["id"], "output_index": position, "content_index": 0}
        if item["type"] == "reasoning":
            done = self.seq.event(
                "response.reasoning_text.done", **ids, text=part["text"]
            )
        else:
            done = self.seq.event(
                "response.output_text.done", **ids, text=part["text"], logprobs=[]
            )
        return [
            done,
            self.seq.event("response.content_part.done", **ids, part=dict(part)),
            self.seq.event(
                "response.output_item.done", output_index=position, item=_copy(item)
            ),
        ]

    # Function call items.

    def _call(self, call: ToolCallDelta) -> list[Event]:
        events: list[Event] = []
        position = self._calls.get(call.index)
        if position is None:
            events += self._close_text("completed")
            item = {
                "id": new_item_id(),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call.id or new_id("call"),
                "name": call.name,
                "arguments": "",
            }
            self._calls[call.index] = position = len(self.items)
            self.items.append(item)
            events.append(
                self.seq.event(
                    "response.output_item.added", output_index=position, item=dict(item)
                )
            )
        item = self.items[position]
        if call.name and not item["name"]:
            item["name"] = call.name
        if call.arguments:
            item["arguments"] += call.arguments
            events.append(
                self.seq.event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=position,
                    delta=call.arguments,
                )
            )
        return events

    def _close_call(self, position: int, status: str) -> list[Event]:
        item = self.items[position]
        item["status"] = status
        return [
            self.seq.event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=position,
                name=item["name"],
                arguments=item["arguments"],
            ),
            self.seq.event(
                "response.output_item.done", output_index=position, item=dict(item)
            ),
        ]


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "content": [dict(part) for part in item.get("content", [])]}
