"""Typed Responses stream events: numbering, SSE framing, and the output they build.

`OutputBuilder` turns the deltas of an upstream chat stream (inference.assembly) into
the Responses events of reasoning, message and function call items, and keeps the
output items they add up to. A tool call the gateway runs itself (`classify` names
its item type, tooling.ServerTool) opens a `web_search_call` or `mcp_call` item
instead; conversations.responses.toolruns runs it and finishes the item.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class StepCall:
    """A tool call of the current model step: the chat side (id, name, arguments)
    and its output item; `server` is the tooling.ServerTool of a server-run call."""

    call_id: str
    name: str
    position: int
    server: Any = None
    arguments: str = ""
    finished: bool = False


def _no_server_tools(name: str | None) -> Any:
    return None


class OutputBuilder:
    """Output items and their events from chat deltas (see the module docstring)."""

    def __init__(
        self,
        sequencer: Sequencer,
        classify: Callable[[str | None], Any] = _no_server_tools,
    ) -> None:
        self.seq = sequencer
        self.classify = classify
        self.items: list[dict[str, Any]] = []
        self._open: int | None = None  # the open reasoning or message item
        self._calls: dict[int, int] = {}  # open tool call index -> output index
        self.step_calls: list[StepCall] = []
        self._by_position: dict[int, StepCall] = {}

    def new_step(self) -> None:
        """Start the output of the next model step (after a round of tool calls)."""
        self._calls.clear()
        self.step_calls = []

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

    def unfinished_settle(self, *, drop: bool) -> list[Event]:
        """End the server-run calls that never finished: dropped from the output (an
        interrupted run: nothing half-done is kept), or closed `incomplete`."""
        events: list[Event] = []
        unfinished = {
            call.position
            for call in self._by_position.values()
            if call.server is not None and not call.finished
        }
        if drop:
            self.items = [
                item for i, item in enumerate(self.items) if i not in unfinished
            ]
            self._by_position.clear()
            return events
        for position in sorted(unfinished):
            item = self.items[position]
            item["status"] = "incomplete"
            self._by_position[position].finished = True
            events.append(
                self.seq.event(
                    "response.output_item.done", output_index=position, item=_copy(item)
                )
            )
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
            events += self._open_call(call)
            position = self._calls[call.index]
        step = self._by_position[position]
        item = self.items[position]
        if call.name and not step.name:
            step.name = call.name
            if item["type"] == "function_call":
                item["name"] = call.name
        if call.arguments:
            step.arguments += call.arguments
            events += self._arguments_delta(step, item, call.arguments)
        return events

    def _open_call(self, call: ToolCallDelta) -> list[Event]:
        server = self.classify(call.name)
        step = StepCall(
            call_id=call.id or new_id("call"),
            name=call.name or "",
            position=len(self.items),
            server=server,
        )
        item = _call_item(step)
        self._calls[call.index] = step.position
        self._by_position[step.position] = step
        self.step_calls.append(step)
        self.items.append(item)
        events = [
            self.seq.event(
                "response.output_item.added",
                output_index=step.position,
                item=_copy(item),
            )
        ]
        if item["type"] == "web_search_call":
            events.append(self.progress_event(step, "in_progress"))
        return events

    def _arguments_delta(
        self, step: StepCall, item: dict[str, Any], fragment: str
    ) -> list[Event]:
        if item["type"] == "web_search_call":
            return []  # its arguments become the item's action when it runs
        item["arguments"] = step.arguments
        kind = "mcp_call" if item["type"] == "mcp_call" else "function_call"
        return [
            self.seq.event(
                f"response.{kind}_arguments.delta",
                item_id=item["id"],
                output_index=step.position,
                delta=fragment,
            )
        ]

    def progress_event(self, step: StepCall, stage: str) -> Event:
        """`response.<web_search_call|mcp_call>.<stage>` of a server-run call."""
        item = self.items[step.position]
        return self.seq.event(
            f"response.{item['type']}.{stage}",
            item_id=item["id"],
            output_index=step.position,
        )

    def item_done(self, step: StepCall, **changes: Any) -> Event:
        """Finish a server-run call's item with `changes`: its output_item.done."""
        item = self.items[step.position]
        item.update(changes)
        step.finished = True
        return self.seq.event(
            "response.output_item.done", output_index=step.position, item=_copy(item)
        )

    def listing(self, listing: dict[str, Any]) -> list[Event]:
        """The events of an `mcp_list_tools` item (tools listed when resolved)."""
        item = {"id": new_item_id(), **listing}
        position = len(self.items)
        self.items.append(item)
        ids = {"item_id": item["id"], "output_index": position}
        outcome = "failed" if item.get("error") else "completed"
        return [
            self.seq.event(
                "response.output_item.added",
                output_index=position,
                item={**item, "tools": []},
            ),
            self.seq.event("response.mcp_list_tools.in_progress", **ids),
            self.seq.event(f"response.mcp_list_tools.{outcome}", **ids),
            self.seq.event(
                "response.output_item.done", output_index=position, item=_copy(item)
            ),
        ]

    def _close_call(self, position: int, status: str) -> list[Event]:
        item = self.items[position]
        if item["type"] == "mcp_call":  # arguments done; it runs next
            return [
                self.seq.event(
                    "response.mcp_call_arguments.done",
                    item_id=item["id"],
                    output_index=position,
                    arguments=item["arguments"],
                )
            ]
        if item["type"] != "function_call":
            return []
        self._by_position[position].finished = True
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


def _call_item(step: StepCall) -> dict[str, Any]:
    server = step.server
    head = {"id": new_item_id(), "status": "in_progress"}
    if server is None:
        return {
            **head,
            "type": "function_call",
            "call_id": step.call_id,
            "name": step.name,
            "arguments": "",
        }
    if server.kind == "web_search_call":
        kind = "open_page" if server.remote_name == "scrape" else "search"
        return {**head, "type": "web_search_call", "action": {"type": kind}}
    return {
        **head,
        "type": "mcp_call",
        "server_label": server.server_label,
        "name": server.remote_name,
        "arguments": "",
        "output": None,
        "error": None,
        "approval_request_id": None,
    }


def _copy(item: dict[str, Any]) -> dict[str, Any]:
    copied = {**item}
    for key in ("content", "tools"):
        if isinstance(item.get(key), list):
            copied[key] = [dict(part) for part in item[key]]
    if isinstance(item.get("action"), dict):
        copied["action"] = dict(item["action"])
    return copied
