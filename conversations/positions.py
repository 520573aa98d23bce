"""Item positions: each conversation's counter, advanced for the items being added.

Taking the conversation's row lock (SQLite: the write lock) before the items go in,
so concurrent appends to one conversation get disjoint positions.
"""

from datetime import datetime

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

from conversations.models import Conversation
from janserver.db_recordset import records, recordset


def counters_advance(counts: dict[int, int], now: datetime) -> dict[int, int]:
    """Add `counts[pk]` to the position counter of each live conversation and touch
    it; return the new counters by pk (the deleted ones missing).

    One statement (UPDATE ... RETURNING where the database has it): through the ORM,
    building the CASE cost more than the database spent on the writes.
    """
    connection = connections[router.db_for_write(Conversation)]
    if connection.vendor == "postgresql":
        return _advance_from_recordset(connection, counts, now)
    meta, quote = Conversation._meta, connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)  # type: ignore[union-attr]
    counter = quote(meta.get_field("last_position").column)
    touched = meta.get_field("updated_at")
    live = f"{quote(meta.get_field('deleted_at').column)} IS NULL"
    keys = ", ".join(["%s"] * len(counts))
    steps = " ".join(["WHEN %s THEN %s"] * len(counts))
    # Only names from the model and placeholders: no value is ever formatted in.
    update = (
        f"UPDATE {table} SET {counter} = {counter} + CASE {pk} {steps} END, "  # noqa: S608
        f"{quote(touched.column)} = %s WHERE {pk} IN ({keys}) AND {live}"
    )
    params = [
        *(value for step in counts.items() for value in step),
        touched.get_db_prep_save(now, connection),
        *counts,
    ]
    with connection.cursor() as cursor:
        if _update_returns_rows(connection):
            cursor.execute(f"{update} RETURNING {pk}, {counter}", params)
            return dict(cursor.fetchall())
        cursor.execute(update, params)
        cursor.execute(
            f"SELECT {pk}, {counter} FROM {table} WHERE {pk} IN ({keys}) AND {live}",  # noqa: S608
            list(counts),
        )
        return dict(cursor.fetchall())


def _advance_from_recordset(
    connection: BaseDatabaseWrapper, counts: dict[int, int], now: datetime
) -> dict[int, int]:
    """PostgreSQL: the counts in one JSON parameter (see janserver.db_recordset), in
    key order so that concurrent batches lock their rows in the same order."""
    meta, quote = Conversation._meta, connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)  # type: ignore[union-attr]
    counter = quote(meta.get_field("last_position").column)
    touched = meta.get_field("updated_at")
    live = f"{table}.{quote(meta.get_field('deleted_at').column)} IS NULL"
    source = recordset([('"key"', "bigint"), ('"added"', "bigint")])
    update = (
        f"UPDATE {table} SET {counter} = {table}.{counter} + r.added, "  # noqa: S608
        f"{quote(touched.column)} = %s FROM {source} "
        f"WHERE {table}.{pk} = r.key AND {live} "
        f"RETURNING {table}.{pk}, {table}.{counter}"
    )
    param = records(("key", "added"), sorted(counts.items()))
    with connection.cursor() as cursor:
        cursor.execute(update, [touched.get_db_prep_save(now, connection), param])
        return dict(cursor.fetchall())


def _update_returns_rows(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database has UPDATE ... RETURNING (PostgreSQL, SQLite 3.35+)."""
    if connection.vendor == "sqlite":
        return bool(connection.features.can_return_columns_from_insert)
    return connection.vendor == "postgresql"
