"""The OpenAI `response` object and its items, built from one in-memory record."""

from dataclasses import dataclass, field
from typing import Any

from conversations.models import Response, ResponseStatus
from conversations.shapes import items_rendered
from janserver.api.fields import unix
from janserver.ids import new_item_id

FINAL_STATUSES = frozenset(
    {
        ResponseStatus.COMPLETED,
        ResponseStatus.INCOMPLETE,
        ResponseStatus.FAILED,
        ResponseStatus.CANCELLED,
    }
)
UNFINISHED_STATUSES = (ResponseStatus.QUEUED, ResponseStatus.IN_PROGRESS)


@dataclass
class Record:
    """A response as the API shows it, stored or not."""

    public_id: str
    created_at: int
    model: str
    status: str
    background: bool = False
    store: bool = True
    instructions: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    input_items: list[dict[str, Any]] = field(default_factory=list)
    output: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    completed_at: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


def record_from_row(row: Response) -> Record:
    """Return the Record of a stored response (previous response and conversation
    joined)."""
    previous = row.previous_response
    conversation = row.conversation
    return Record(
        public_id=row.public_id,
        created_at=unix(row.created_at) or 0,
        model=row.model,
        status=row.status,
        background=row.background,
        store=row.store,
        instructions=row.instructions or None,
        parameters=row.parameters or {},
        metadata=row.metadata or {},
        input_items=row.input if isinstance(row.input, list) else [],
        output=row.output or [],
        usage=row.usage,
        error=row.error,
        incomplete_details=row.incomplete_details,
        previous_response_id=previous.public_id if previous else None,
        conversation_id=conversation.public_id if conversation else None,
        completed_at=unix(row.completed_at),
    )


def response_object(record: Record) -> dict[str, Any]:
    """Return the OpenAI `response` object of a record."""
    parameters = record.parameters
    return {
        "id": record.public_id,
        "object": "response",
        "created_at": record.created_at,
        "status": record.status,
        "background": record.background,
        "completed_at": record.completed_at,
        "conversation": {"id": record.conversation_id}
        if record.conversation_id
        else None,
        "error": record.error,
        "incomplete_details": record.incomplete_details,
        "instructions": record.instructions,
        "max_output_tokens": parameters.get("max_output_tokens"),
        "max_tool_calls": parameters.get("max_tool_calls"),
        "metadata": record.metadata,
        "model": record.model,
        "output": items_rendered(record.output),
        "parallel_tool_calls": parameters.get("parallel_tool_calls", True),
        "previous_response_id": record.previous_response_id,
        "reasoning": parameters.get("reasoning"),
        "store": record.store,
        "temperature": parameters.get("temperature"),
        "text": parameters.get("text") or {"format": {"type": "text"}},
        "tool_choice": parameters.get("tool_choice", "auto"),
        "tools": parameters.get("tools") or [],
        "top_p": parameters.get("top_p"),
        "truncation": "disabled",
        "usage": record.usage,
        "user": parameters.get("user"),
    }


def item_with_id(cleaned: dict[str, Any]) -> dict[str, Any]:
    """Return a cleaned input item (conversations.validation) in OpenAI's item shape."""
    item = {"id": new_item_id(), **cleaned}
    item.update(item.pop("details", None) or {})  # a tool item's own fields
    if item["type"] == "reasoning":
        for key in ("content", "encrypted_content"):
            if not item.get(key):
                item.pop(key, None)
    return item


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _detail(usage: dict[str, Any], group: str, name: str) -> int:
    details = usage.get(group)
    return _count(details.get(name)) if isinstance(details, dict) else 0


def usage_object(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return chat completion usage as Responses usage (None when unknown)."""
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": _detail(usage, "prompt_tokens_details", "cached_tokens"),
            "cache_write_tokens": 0,
        },
        "output_tokens": completion,
        "output_tokens_details": {
            "reasoning_tokens": _detail(
                usage, "completion_tokens_details", "reasoning_tokens"
            ),
        },
        "total_tokens": _count(usage.get("total_tokens")) or prompt + completion,
    }


def usage_sum(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """Return chat usages (one per model step of a response) added up."""
    total: dict[str, Any] = {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    for usage in usages:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            total[name] += _count(usage.get(name))
        for group, name in (
            ("prompt_tokens_details", "cached_tokens"),
            ("completion_tokens_details", "reasoning_tokens"),
        ):
            total[group][name] += _detail(usage, group, name)
    return total
