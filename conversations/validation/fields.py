"""Field checks shared by conversation input: strings, choices, metadata, titles.

Every error names the offending field's path in `param` (`items[3].content[0].text`).
"""

from typing import Any

from django.conf import settings

from janserver.errors import InvalidRequest, MissingParameter

MAX_ITEMS_PER_CALL = 20
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512
TITLE_MAX_CHARS = 200
WORKSPACE_NAME_MAX_CHARS = 50


def text_max_chars() -> int:
    """Return the longest text one field of an item may hold."""
    return int(settings.CONVERSATION_TEXT_MAX_CHARS)


def as_object(value: Any, param: str) -> dict[str, Any]:
    """Return `value` if it is a JSON object; raise InvalidRequest."""
    if not isinstance(value, dict):
        raise InvalidRequest(f"{param} must be an object.", param=param)
    return value


def known_only(value: dict[str, Any], fields: set[str], param: str) -> None:
    """Refuse any key of `value` outside `fields`."""
    for key in value:
        if key not in fields:
            raise InvalidRequest(
                f"Unknown parameter: '{param}.{key}'.", param=f"{param}.{key}"
            )


def string_field(
    value: dict[str, Any],
    key: str,
    param: str,
    *,
    max_chars: int | None = None,
    required: bool = True,
    allow_empty: bool = True,
) -> str | None:
    """Return the string `value[key]` (None when absent and optional), within limits.

    `max_chars` defaults to the configured text cap (CONVERSATION_TEXT_MAX_CHARS).
    """
    path = f"{param}.{key}"
    if key not in value or value[key] is None:
        if required:
            raise MissingParameter(f"Missing required parameter: '{path}'.", param=path)
        return None
    text = value[key]
    if not isinstance(text, str):
        raise InvalidRequest(f"{path} must be a string.", param=path)
    if not allow_empty and not text:
        raise InvalidRequest(f"{path} must not be empty.", param=path)
    limit = text_max_chars() if max_chars is None else max_chars
    if len(text) > limit:
        raise InvalidRequest(
            f"{path} is too long: {len(text)} characters, at most {limit}.",
            param=path,
        )
    return text


def choice_field(
    value: dict[str, Any], key: str, choices: tuple[str, ...], param: str, default: str
) -> str:
    """Return `value[key]` if one of `choices`, `default` when absent."""
    chosen = value.get(key)
    if chosen is None:
        return default
    if chosen not in choices:
        raise InvalidRequest(
            f"Invalid value for '{param}.{key}': use one of {', '.join(choices)}.",
            param=f"{param}.{key}",
        )
    return chosen


def as_list(value: Any, param: str) -> list[Any]:
    """Return `value` if it is a JSON array; raise InvalidRequest."""
    if not isinstance(value, list):
        raise InvalidRequest(f"{param} must be an array.", param=param)
    return value


def metadata_clean(raw: Any, param: str = "metadata") -> dict[str, str]:
    """Return valid metadata: at most 16 string pairs, keys ≤ 64, values ≤ 512 chars.

    None stands for no metadata ({}).
    """
    if raw is None:
        return {}
    metadata = as_object(raw, param)
    if len(metadata) > METADATA_MAX_PAIRS:
        raise InvalidRequest(
            f"{param} may hold at most {METADATA_MAX_PAIRS} pairs, not {len(metadata)}.",
            param=param,
        )
    for key, value in metadata.items():
        if not key or len(key) > METADATA_KEY_MAX_CHARS:
            raise InvalidRequest(
                f"Metadata keys must be 1 to {METADATA_KEY_MAX_CHARS} characters.",
                param=f"{param}.{key}",
            )
        if not isinstance(value, str) or len(value) > METADATA_VALUE_MAX_CHARS:
            raise InvalidRequest(
                f"Metadata values must be strings of at most "
                f"{METADATA_VALUE_MAX_CHARS} characters.",
                param=f"{param}.{key}",
            )
    return dict(metadata)


def title_clean(raw: Any, param: str = "title") -> str:
    """Return a trimmed title of at most TITLE_MAX_CHARS characters (None is "")."""
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidRequest(f"{param} must be a string.", param=param)
    title = raw.strip()
    if len(title) > TITLE_MAX_CHARS:
        raise InvalidRequest(
            f"{param} is too long: at most {TITLE_MAX_CHARS} characters.", param=param
        )
    return title
