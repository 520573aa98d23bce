"""Reading JSON request bodies, and checking JSON values before they are stored.

The one place every JSON body goes through (DRF's parser for the CRUD routes, the
inference and Responses parsers for the async ones). A body is accepted when it is
standard JSON (valid UTF-8, no NaN or Infinity), nests at most MAX_DEPTH levels and
holds no NUL character and no lone surrogate in any key or string: PostgreSQL's text
and jsonb refuse NUL, no database can store a lone surrogate as text, and SQLite would
store both and fail on every later read. Each refusal is a 400 naming the `param`
path (`messages[0].content`) of the offending value.

orjson parses the common, valid case; only a body it refuses is parsed a second time,
by the standard library, to name the offending value in the error.
"""

import json
import math
from collections.abc import Mapping
from typing import IO, Any

import orjson
from rest_framework.parsers import BaseParser

from janserver.errors import InvalidJSON, InvalidRequest

# Deep enough for any real request (JSON schemas of tools and structured outputs
# included), far below where a parser or encoder would run out of stack.
MAX_DEPTH = 64
_NUL_ESCAPE = b"\\u0000"


def loads(raw: bytes | str) -> Any:
    """Parse and check a JSON body; raise InvalidJSON or InvalidRequest naming `param`."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        _fallback_explain(data, error)
    # orjson refused lone surrogates and a raw NUL byte: only escaped NULs and depth
    # remain, and both are rare enough to look for only when they may be there.
    if _NUL_ESCAPE in data or data.count(b"[") + data.count(b"{") > MAX_DEPTH:
        _check(value, "", 0, surrogates=False)
    return value


def object_loads(raw: bytes | str) -> dict[str, Any]:
    """Parse and check a JSON body that must be an object."""
    value = loads(raw)
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return value


def value_check(value: Any, param: str = "") -> None:
    """Check a JSON value that did not come through loads() (lone surrogates too).

    Raise InvalidRequest naming the path below `param` of the first value that
    cannot be stored.
    """
    _check(value, param, 0, surrogates=True)


def storable(value: Any) -> Any:
    """Return `value` with NUL and lone surrogates in its keys and strings replaced by
    U+FFFD: for text the server must keep rather than refuse (an upstream's output,
    rows stored before the parser refused them)."""
    if isinstance(value, str):
        return _text_storable(value)
    if isinstance(value, dict):
        return {_text_storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _text_storable(text: str) -> str:
    if _text_fault(text, surrogates=True) is None:
        return text
    return "".join(
        "\ufffd" if char == "\x00" or "\ud800" <= char <= "\udfff" else char
        for char in text
    )


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


_STRICT = json.JSONDecoder(parse_constant=_not_json)


def _fallback_explain(data: bytes, error: orjson.JSONDecodeError) -> None:
    """Raise the error for a body orjson refused, naming the value when there is one."""
    try:
        text = data.decode("utf-8", "surrogatepass")
        value = _STRICT.decode(text)
    except RecursionError:
        raise _too_deep("") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidJSON(
            f"We could not parse the JSON body of your request ({error})."
        ) from None
    # Only what orjson refuses and the standard library takes gets here: lone
    # surrogates, numbers beyond a double and nesting orjson gave up on.
    _check(value, "", 0, surrogates=True)
    raise InvalidJSON(f"We could not parse the JSON body of your request ({error}).")


def _child(param: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{param}[{key}]"
    return f"{param}.{key}" if param else key


def _too_deep(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"The JSON body nests more than {MAX_DEPTH} levels deep.", param=param or None
    )


def _text_fault(text: str, surrogates: bool) -> str | None:
    """What makes `text` unstorable, or None."""
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)"
    if surrogates and not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain lone surrogates (not valid Unicode text)"
    return None


def _text_check(text: str, param: str, surrogates: bool) -> None:
    fault = _text_fault(text, surrogates)
    if fault is not None:
        raise InvalidRequest(f"{param or 'The body'} {fault}.", param=param or None)


def _key_check(key: str, param: str, surrogates: bool) -> None:
    # The key cannot name itself in the error: it is what is wrong.
    fault = _text_fault(key, surrogates)
    if fault is not None:
        where = f"The keys of {param}" if param else "The keys of the body"
        raise InvalidRequest(f"{where} {fault}.", param=param or None)


def _check(value: Any, param: str, depth: int, *, surrogates: bool) -> None:
    if isinstance(value, str):
        _text_check(value, param, surrogates)
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _too_deep(param)
        for key, item in value.items():
            _key_check(key, param, surrogates)
            _check(item, _child(param, key), depth + 1, surrogates=surrogates)
    elif isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise _too_deep(param)
        for index, item in enumerate(value):
            _check(item, _child(param, index), depth + 1, surrogates=surrogates)
    elif isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(
            f"{param or 'The body'} must be a finite number.", param=param or None
        )


class JSONParser(BaseParser):
    """DRF's JSON parser with the checks of loads()."""

    media_type = "application/json"

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        return loads(stream.read() if stream is not None else b"")
