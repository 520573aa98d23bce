"""What a tool call returns, whichever tool answered: MCP content blocks and an outcome."""

import json
from dataclasses import dataclass, field
from typing import Any

from tools.models import ToolOutcome


@dataclass(frozen=True, slots=True)
class ToolResult:
    """A tool's answer: MCP content blocks (as dicts), `is_error`, and how it ended.

    `data` holds the parsed JSON of a built-in tool's answer (Serper's object), for
    in-process callers that want more than text; it is not sent over MCP.
    """

    content: list[dict[str, Any]]
    is_error: bool = False
    outcome: ToolOutcome = ToolOutcome.OK
    structured: dict[str, Any] | None = None
    data: Any = field(default=None, compare=False)

    @property
    def text(self) -> str:
        """The text blocks joined by newlines (what a model reads)."""
        return "\n".join(
            block.get("text", "")
            for block in self.content
            if block.get("type") == "text"
        )


def text_result(text: str, *, data: Any = None) -> ToolResult:
    return ToolResult(content=[{"type": "text", "text": text}], data=data)


def json_result(data: Any) -> ToolResult:
    return text_result(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")), data=data
    )


def error_result(message: str, outcome: ToolOutcome) -> ToolResult:
    return ToolResult(
        content=[{"type": "text", "text": message}], is_error=True, outcome=outcome
    )


class ToolFailure(Exception):
    """A call that failed in a way the caller should read (becomes an error result)."""

    def __init__(self, message: str, outcome: ToolOutcome) -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome

    def result(self) -> ToolResult:
        return error_result(self.message, self.outcome)
