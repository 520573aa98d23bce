"""Many rows to PostgreSQL in one JSON parameter: `jsonb_to_recordset(%s::jsonb)`.

With Django's client-side binding, psycopg converts a statement of more than 50
placeholders anew on every execute (a regex pass over all of them), and quotes an array
parameter in Python, value by value: for a batch of 40 items that was ~80 µs of the
worker's CPU per row. One JSON document, encoded by orjson in C and quoted by libpq,
costs a few µs per row; PostgreSQL parses it (on the database's cores, not the
worker's).
"""

import math
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from django.db import models
from django.db.models import Field

# The field classes whose values a JSON document carries exactly (each a JSON string,
# number, boolean or null, a datetime as ISO 8601 with its offset, or a JSON value).
_CARRIED: "tuple[type[Field[Any, Any]], ...]" = (
    models.CharField,
    models.TextField,
    models.IntegerField,  # the other integer fields and the auto fields subclass it
    models.BooleanField,
    models.FloatField,
    models.DateTimeField,
    models.JSONField,
)


class NotCarried(Exception):
    """A value that a JSON document cannot carry exactly (a NaN, a 65-bit integer...)."""


def carried(field: "Field[Any, Any]") -> bool:
    """Whether the values of `field` can travel in a recordset."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.JSONField) and field.encoder is not None:
        return False
    return isinstance(field, _CARRIED)


def recordset(columns: Sequence[tuple[str, str]]) -> str:
    """Return `jsonb_to_recordset(%s::jsonb) AS r(column type, ...)` for quoted
    (column, type) pairs (types without their parameters: varchar, not varchar(64);
    the target column still checks the length)."""
    defined = ", ".join(f"{column} {kind.split('(')[0]}" for column, kind in columns)
    return f"jsonb_to_recordset(%s::jsonb) AS r({defined})"


def records(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return the JSON parameter of `rows` (values in `columns` order): one object per
    row. Raises NotCarried for a value JSON cannot carry exactly.

    A JSONField's value is taken as standard JSON (no NaN or Infinity inside, which
    the request parsers refuse): orjson would write such a float as null.
    """
    objects = [dict(zip(columns, row, strict=True)) for row in rows]
    try:
        encoded = orjson.dumps(objects)
    except TypeError as error:  # a type orjson cannot encode, an integer > 64 bits
        raise NotCarried(str(error)) from None
    if b"null" in encoded and _non_finite(objects):  # orjson writes a NaN as null
        raise NotCarried("A float is not finite.")
    return encoded.decode()


def _non_finite(objects: list[dict[str, Any]]) -> bool:
    """Whether a column's value is a float that is not finite."""
    return any(
        isinstance(value, float) and not math.isfinite(value)
        for row in objects
        for value in row.values()
    )
