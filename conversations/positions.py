"""Item positions: each conversation's counter, advanced for the items being added.

Taking the conversation's row lock (SQLite: the write lock) before the items go in,
so concurrent appends to one conversation get disjoint positions.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

from conversations.models import Conversation
from janserver.db.recordset import records, recordset


@dataclass(frozen=True)
class _Names:
    """The quoted names the statements use (only names from the model)."""

    table: str
    pk: str
    counter: str
    touched: str
    live: str  # the condition of a conversation not deleted

    @classmethod
    def of(cls, connection: BaseDatabaseWrapper) -> "_Names":
        meta, quote = Conversation._meta, connection.ops.quote_name
        table = quote(meta.db_table)
        return cls(
            table=table,
            pk=quote(meta.pk.column),  # type: ignore[union-attr]
            counter=quote(meta.get_field("last_position").column),
            touched=quote(meta.get_field("updated_at").column),
            live=f"{table}.{quote(meta.get_field('deleted_at').column)} IS NULL",
        )


def counters_advance(counts: dict[int, int], now: datetime) -> dict[int, int]:
    """Add `counts[pk]` to the position counter of each live conversation and touch
    it; return the new counters by pk (the deleted ones missing).

    One statement (UPDATE ... RETURNING where the database has it): through the ORM,
    building the CASE cost more than the database spent on the writes.
    """
    connection = connections[router.db_for_write(Conversation)]
    n = _Names.of(connection)
    touched = Conversation._meta.get_field("updated_at")
    at = touched.get_db_prep_save(now, connection)
    if connection.vendor == "postgresql":
        return _advance_from_recordset(connection, n, counts, at)
    keys = ", ".join(["%s"] * len(counts))
    steps = " ".join(["WHEN %s THEN %s"] * len(counts))
    # Only names from the model and placeholders: no value is ever formatted in.
    update = (
        f"UPDATE {n.table} SET {n.counter} = {n.counter} + CASE {n.pk} {steps} END, "  # noqa: S608
        f"{n.touched} = %s WHERE {n.pk} IN ({keys}) AND {n.live}"
    )
    params = [*(value for step in counts.items() for value in step), at, *counts]
    with connection.cursor() as cursor:
        if _update_returns_rows(connection):
            cursor.execute(f"{update} RETURNING {n.pk}, {n.counter}", params)
            return dict(cursor.fetchall())
        cursor.execute(update, params)
        cursor.execute(
            f"SELECT {n.pk}, {n.counter} FROM {n.table} WHERE {n.pk} IN ({keys}) AND {n.live}",  # noqa: S608
            list(counts),
        )
        return dict(cursor.fetchall())


def _advance_from_recordset(
    connection: BaseDatabaseWrapper, n: _Names, counts: dict[int, int], at: Any
) -> dict[int, int]:
    """PostgreSQL: the counts in one JSON parameter (see janserver.db.recordset), in
    key order so that concurrent batches lock their rows in the same order."""
    source = recordset([('"key"', "bigint"), ('"added"', "bigint")])
    update = (
        f"UPDATE {n.table} SET {n.counter} = {n.table}.{n.counter} + r.added, "  # noqa: S608
        f"{n.touched} = %s FROM {source} "
        f"WHERE {n.table}.{n.pk} = r.key AND {n.live} "
        f"RETURNING {n.table}.{n.pk}, {n.table}.{n.counter}"
    )
    param = records(("key", "added"), sorted(counts.items()))
    with connection.cursor() as cursor:
        cursor.execute(update, [at, param])
        return dict(cursor.fetchall())


def _update_returns_rows(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database has UPDATE ... RETURNING (PostgreSQL, SQLite 3.35+)."""
    if connection.vendor == "sqlite":
        return bool(connection.features.can_return_columns_from_insert)
    return connection.vendor == "postgresql"
