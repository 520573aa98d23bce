"""Database work from async code (one thread hop, the connection handed back after),
and batch inserts cheap enough for hot paths."""

import functools
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections, router
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin

P = ParamSpec("P")
R = TypeVar("R")


def _cleanly(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return function(*args, **kwargs)
    finally:
        # No request_finished signal will close this thread's connection for us (what
        # close_old_connections() does, except inside a transaction such as a test's).
        # A SQLite connection is a file handle: the few long-lived threads that run
        # this keep theirs (opening one, with its pragmas and functions, cost more than
        # the writes of a batch), unless an error made it unusable.
        for connection in connections.all(initialized_only=True):
            if connection.in_atomic_block:
                continue
            if connection.vendor == "sqlite" and not connection.errors_occurred:
                continue
            connection.close_if_unusable_or_obsolete()


async def run(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run sync ORM code in Django's sync thread, then release its connection."""
    return await sync_to_async(_cleanly)(function, *args, **kwargs)


async def run_concurrently(
    function: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """See run(); in a thread of the loop's pool instead of Django's one sync thread,
    for work that must not wait behind it (reads, mostly)."""
    return await sync_to_async(_cleanly, thread_sensitive=False)(
        function, *args, **kwargs
    )


def insert_many(objects: Sequence[Model]) -> None:
    """INSERT new model instances with one prepared statement run per row.

    For batch writes on hot paths: bulk_create compiles every value of every row into
    one statement, which costs more CPU than the database spends on it. Here values
    are only prepared for the database. Nothing is returned (primary keys stay unset)
    and no signals are sent. Call inside a transaction for all-or-nothing.
    """
    if not objects:
        return
    model = type(objects[0])
    connection = connections[router.db_for_write(model)]
    fields = _insert_fields(model)
    rows = [
        tuple(
            field.get_db_prep_save(field.pre_save(instance, True), connection)
            for field in fields
        )
        for instance in objects
    ]
    sql = _insert_sql(model, connection.alias)
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


@functools.cache
def _insert_fields(model: type[Model]) -> "tuple[Field[Any, Any], ...]":
    return tuple(
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, AutoFieldMixin))
    )


@functools.cache
def _insert_sql(model: type[Model], alias: str) -> str:
    quote = connections[alias].ops.quote_name
    fields = _insert_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    # Only names from the model and placeholders: no value is ever formatted in.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608
