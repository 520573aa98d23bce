"""Items as OpenAI renders them: what every place that answers with an item fills in.

OpenAI's schema requires `annotations` and `logprobs` on every `output_text` part; rows
stored before they were kept, and parts given without them, get empty lists.
"""

from typing import Any

OUTPUT_TEXT_LISTS = ("annotations", "logprobs")


def content_rendered(content: Any) -> Any:
    """Return message content parts with every output_text part's lists present."""
    if not isinstance(content, list):
        return content
    return [_part_rendered(part) for part in content]


def _part_rendered(part: Any) -> Any:
    if not isinstance(part, dict) or part.get("type") != "output_text":
        return part
    missing: dict[str, list[Any]] = {
        key: [] for key in OUTPUT_TEXT_LISTS if part.get(key) is None
    }
    return {**part, **missing} if missing else part


def items_rendered(items: Any) -> Any:
    """Return items (dicts in OpenAI's shape) with their messages' parts rendered."""
    if not isinstance(items, list):
        return items
    return [
        {**item, "content": content_rendered(item["content"])}
        if isinstance(item, dict)
        and item.get("type") == "message"
        and "content" in item
        else item
        for item in items
    ]
