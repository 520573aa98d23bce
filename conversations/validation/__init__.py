"""Check and normalize conversation input: OpenAI input items, metadata, titles."""

from conversations.validation.fields import (
    MAX_ITEMS_PER_CALL,
    METADATA_KEY_MAX_CHARS,
    METADATA_MAX_PAIRS,
    METADATA_VALUE_MAX_CHARS,
    TITLE_MAX_CHARS,
    WORKSPACE_NAME_MAX_CHARS,
    metadata_clean,
    text_max_chars,
    title_clean,
)
from conversations.validation.items import item_clean, items_clean

__all__ = [
    "MAX_ITEMS_PER_CALL",
    "METADATA_KEY_MAX_CHARS",
    "METADATA_MAX_PAIRS",
    "METADATA_VALUE_MAX_CHARS",
    "TITLE_MAX_CHARS",
    "WORKSPACE_NAME_MAX_CHARS",
    "item_clean",
    "items_clean",
    "metadata_clean",
    "text_max_chars",
    "title_clean",
]
