"""Batch inserts cheap enough for hot paths: many rows in one statement, prepared
without Django's per-object save() (see janserver.db for when to use it)."""

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone

from janserver.db.recordset import NotCarried, carried, records, recordset


def insert_many(model: type[Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT rows of `model` (field values by attname; a missing field takes its
    default), as few statements as the database's parameter limit allows (on
    PostgreSQL: the rows in one JSON parameter, see janserver.db.recordset).

    For batch writes on hot paths: bulk_create builds model instances and compiles
    every value of every row into one statement, which costs more CPU than the
    database spends on it. Here values are only prepared for the database (not at
    all when that would change nothing: a str for a CharField, an int for an integer
    field or a foreign key...). Nothing is returned and no signals are sent. Call
    inside a transaction for all-or-nothing.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    if "db_helpers" in settings.BYPASSES_OFF:  # docs/decisions/0007: Django's way
        model._base_manager.using(connection.alias).bulk_create(
            [model(**row) for row in rows]
        )
        return
    recordset_sql = (
        _recordset_sql(model, connection.alias)
        if connection.vendor == "postgresql"
        else None
    )
    if recordset_sql is not None:
        try:
            _insert_recordset(model, rows, connection, recordset_sql)
            return
        except NotCarried:  # the generic statements below carry any value
            pass
    values = _prepared_rows(model, rows, connection)
    # One multi-row statement per chunk: with executemany, SQLite steps (and the
    # driver releases and takes back the GIL) once per row.
    fields = _insert_fields(model)
    chunk = max(
        1,
        min(connection.ops.bulk_batch_size(fields, values), _MAX_PARAMS // len(fields)),
    )
    with connection.cursor() as cursor:
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            params = [value for row in part for value in row]
            cursor.execute(_insert_sql(model, connection.alias, len(part)), params)


def _insert_recordset(
    model: type[Model], rows: Sequence[Mapping[str, Any]], connection: Any, sql: str
) -> None:
    """PostgreSQL: INSERT the rows from one JSON document per chunk (see
    janserver.db.recordset); raise NotCarried before writing anything."""
    columns = [field.column for field in _insert_fields(model)]
    values = _prepared_rows(model, rows, connection, raw_json=True)
    params = [
        records(columns, values[start : start + _RECORDSET_ROWS])
        for start in range(0, len(values), _RECORDSET_ROWS)
    ]
    with connection.cursor() as cursor:
        for param in params:
            cursor.execute(sql, [param])


def _prepared_rows(
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    connection: Any,
    *,
    raw_json: bool = False,
) -> list[list[Any]]:
    """The rows' values in column order, prepared for the database (a JSONField's
    values left as they are with `raw_json`)."""
    columns = _insert_columns(model, raw_json)
    values = []
    # A value shared by the rows (a batch's timestamp) is prepared once.
    last: list[tuple[Any, Any]] = [(_NOTHING, None)] * len(columns)
    for row in rows:
        prepared = []
        for index, (attname, constant, factory, kinds, prepare) in enumerate(columns):
            if attname in row:
                value = row[attname]
            else:
                value = constant if factory is None else factory()
            if type(value) in kinds or (str in kinds and isinstance(value, str)):
                prepared.append(value)  # a str subclass too: TextChoices members
            elif value is last[index][0]:
                prepared.append(last[index][1])
            else:
                last[index] = (value, prepare(value, connection))
                prepared.append(last[index][1])
        values.append(prepared)
    return values


# What a field's database preparation leaves unchanged, by field class: values of
# these exact types (None too, for a nullable field) are passed to the driver as are.
_UNCHANGED: "dict[type[Field[Any, Any]], frozenset[type]]" = {
    **dict.fromkeys((models.CharField, models.TextField), frozenset({str})),
    **dict.fromkeys(
        (
            models.IntegerField,
            models.BigIntegerField,
            models.SmallIntegerField,
            models.PositiveIntegerField,
            models.PositiveBigIntegerField,
            models.PositiveSmallIntegerField,
        ),
        frozenset({int}),
    ),
    models.BooleanField: frozenset({bool}),
    models.FloatField: frozenset({float}),
}
_INTEGER_KEYS = (models.AutoField, models.BigAutoField, models.SmallAutoField)

_NOTHING = object()
# attname, default (a constant, or None and the callable making it), the types left
# unchanged, the preparation of any other value.
Column = tuple[
    str, Any, Callable[[], Any] | None, frozenset[type], Callable[[Any, Any], Any]
]


def _unchanged(field: "Field[Any, Any]") -> frozenset[type]:
    kinds = _UNCHANGED.get(type(field), frozenset())
    if isinstance(field, models.ForeignKey):
        kinds = frozenset({int}) if type(field.target_field) in _INTEGER_KEYS else kinds
    return kinds | {type(None)} if field.null else kinds


def _default(field: "Field[Any, Any]") -> tuple[Any, Callable[[], Any] | None]:
    """(constant, None), or (None, the callable that makes each row's default)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return None, timezone.now
    if field.has_default() and callable(field.default):
        return None, field.get_default
    return field.get_default(), None


@functools.cache
def _insert_fields(model: type[Model]) -> "tuple[Field[Any, Any], ...]":
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, AutoFieldMixin))
    )


@functools.cache
def _insert_columns(model: type[Model], raw_json: bool) -> tuple[Column, ...]:
    return tuple(
        (
            field.attname,
            *_default(field),
            _unchanged(field),
            _preparation(field, raw_json),
        )
        for field in _insert_fields(model)
    )


def _preparation(field: "Field[Any, Any]", raw_json: bool) -> Callable[[Any, Any], Any]:
    if not isinstance(field, models.JSONField):
        return field.get_db_prep_save
    if raw_json:
        return _as_is
    if field.encoder is not None:
        return field.get_db_prep_save

    def dumped(value: Any, connection: Any) -> Any:
        """What get_db_prep_save makes of an object or array where the database keeps
        JSON as text (json.dumps, as the base adapt_json_value), without its calls."""
        if type(value) in (dict, list) and _json_as_text(connection):
            return json.dumps(value)
        return field.get_db_prep_save(value, connection)

    return dumped


def _json_as_text(connection: Any) -> bool:
    adapt = type(connection.ops).adapt_json_value
    return adapt is BaseDatabaseOperations.adapt_json_value


def _as_is(value: Any, _connection: Any) -> Any:
    return value


# PostgreSQL's protocol takes at most 65,535 parameters per statement.
_MAX_PARAMS = 65_535
# Rows per recordset document (a bound on one statement's size, not a limit of the
# database's).
_RECORDSET_ROWS = 5_000


@functools.cache
def _recordset_sql(model: type[Model], alias: str) -> str | None:
    """The INSERT of `model` from a JSON recordset; None when a field's values cannot
    travel in one."""
    connection = connections[alias]
    fields = _insert_fields(model)
    if not all(carried(field) for field in fields):
        return None
    quote = connection.ops.quote_name
    columns = [quote(field.column) for field in fields]
    types = [str(field.db_type(connection)) for field in fields]
    source = recordset(list(zip(columns, types, strict=True)))
    names = ", ".join(columns)
    # Only names and types from the model, and one placeholder: no value formatted in.
    return f"INSERT INTO {quote(model._meta.db_table)} ({names}) SELECT {names} FROM {source}"  # noqa: S608


@functools.lru_cache(maxsize=512)
def _insert_sql(model: type[Model], alias: str, rows: int) -> str:
    quote = connections[alias].ops.quote_name
    fields = _insert_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    values = ", ".join([row] * rows)
    # Only names from the model and placeholders: no value is ever formatted in.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608
