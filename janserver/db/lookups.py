"""Single-row lookups cheap enough for hot paths: the SQL built once per shape, the
rows read as the ORM would read them."""

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import connections, models, router
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def row_get(
    model: type[M],
    *,
    related: str,
    equal: Mapping[str, Any],
    null: Sequence[str] = (),
) -> M | None:
    """Return the instance of `model` whose fields (attnames) equal `equal` and are
    NULL for `null` (the first, if several), with its foreign-key object `related`
    loaded as select_related() would, or None.

    For lookups on hot paths: the ORM spends about a millisecond of CPU building this
    query each time; here its SQL is built once, and values go through the fields'
    database converters as the ORM would.
    """
    connection = connections[router.db_for_read(model)]
    if "db_helpers" in settings.BYPASSES_OFF:  # docs/decisions/0007: Django's way
        nulls = {f"{name}__isnull": True for name in null}
        found = model._base_manager.using(connection.alias).select_related(related)
        return found.filter(**equal, **nulls).order_by("pk").first()
    lookup = _row_lookup(model, related, tuple(equal), tuple(null), connection.alias)
    params = [
        field.get_db_prep_value(equal[field.attname], connection)
        for field in lookup.keys
    ]
    with connection.cursor() as cursor:
        cursor.execute(lookup.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = [
        _converted(value, converters, column, connection)
        for value, (converters, column) in zip(row, lookup.converters, strict=True)
    ]
    split = len(lookup.own)
    instance = model.from_db(connection.alias, lookup.own, values[:split])
    other = None
    if values[split] is not None:  # the related row's primary key (a LEFT JOIN)
        other = lookup.other_model.from_db(
            connection.alias, lookup.other, values[split:]
        )
    lookup.field.set_cached_value(instance, other)
    return instance


def _converted(
    value: Any, converters: tuple[Any, ...], column: Any, connection: Any
) -> Any:
    for convert in converters:
        value = convert(value, column, connection)
    return value


class _Lookup:
    """The SQL of one row_get() shape, and how to read its rows."""

    def __init__(
        self,
        model: type[Model],
        related: str,
        equal: tuple[str, ...],
        null: tuple[str, ...],
        alias: str,
    ) -> None:
        connection = connections[alias]
        self.field = cast("models.ForeignKey[Any, Any]", model._meta.get_field(related))
        self.other_model = cast(type[Model], self.field.related_model)
        mine = model._meta.concrete_fields
        theirs = self.other_model._meta.concrete_fields
        self.own = [field.attname for field in mine]
        self.other = [field.attname for field in theirs]
        self.keys = [_field(model, name) for name in equal]
        columns = [(model._meta.db_table, field) for field in mine]
        columns += [(self.other_model._meta.db_table, field) for field in theirs]
        self.converters = [
            _converters(field, table, connection) for table, field in columns
        ]
        self.sql = self._select(model, columns, null, connection.ops.quote_name)

    def _select(
        self,
        model: type[Model],
        columns: "list[tuple[str, Field[Any, Any]]]",
        null: tuple[str, ...],
        quote: Callable[[str], str],
    ) -> str:
        mine, theirs = (
            quote(model._meta.db_table),
            quote(self.other_model._meta.db_table),
        )
        selected = ", ".join(f"{quote(t)}.{quote(f.column)}" for t, f in columns)
        conditions = [f"{mine}.{quote(field.column)} = %s" for field in self.keys]
        conditions += [f"{mine}.{quote(_field(model, n).column)} IS NULL" for n in null]
        join = (
            f"LEFT OUTER JOIN {theirs} ON {mine}.{quote(self.field.column)} = "
            f"{theirs}.{quote(_pk(self.other_model).column)}"
        )
        # Only names from the models and placeholders: no value is ever formatted in.
        return (
            f"SELECT {selected} FROM {mine} {join} "  # noqa: S608
            f"WHERE {' AND '.join(conditions)} "
            f"ORDER BY {mine}.{quote(_pk(model).column)} LIMIT 1"
        )


def _converters(
    field: "Field[Any, Any]", table: str, connection: Any
) -> tuple[tuple[Any, ...], Any]:
    """What the ORM applies to a column's values as read: (converters, column)."""
    column = field.get_col(table)
    converters = connection.ops.get_db_converters(column)
    converters += field.get_db_converters(connection)  # type: ignore[attr-defined]  # not in django-stubs
    return tuple(converters), column


def _field(model: type[Model], name: str) -> "Field[Any, Any]":
    return cast("Field[Any, Any]", model._meta.get_field(name))


def _pk(model: type[Model]) -> "Field[Any, Any]":
    return cast("Field[Any, Any]", model._meta.pk)


# One _Lookup per shape: (model, related, equal, null, alias).
_row_lookup = functools.cache(_Lookup)
