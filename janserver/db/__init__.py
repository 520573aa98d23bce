"""Database access beside the ORM's usual path, and when to use which.

- `run(f, ...)`: the way async code reaches the database. Runs sync ORM code in
  Django's sync thread and hands the connection back after. Async views and services
  call it (or one of the two below) for every query; never the ORM's `a`-methods,
  which would bypass the connection handling (decision record: docs/decisions).
- `run_concurrently(f, ...)`: the same in a pool thread, for reads that must not
  wait behind the sync thread.
- `run_write(f, ...)`: writes that need not wait behind the sync thread (usage
  records); on SQLite they share its connection (one writer at a time anyway).
- `insert_many(model, rows)` (janserver.db.bulk): many rows in one statement, for
  per-request writes batched off the hot path (usage rows, conversation items). On
  PostgreSQL the rows travel as one JSON document (janserver.db.recordset).
- `row_get(model, ...)` (janserver.db.lookups): one row by one column, its SQL built
  once per shape, for lookups on every request (a conversation of a completion).

- `pool.check` (janserver.db.pool): the PostgreSQL pool's check of a connection before
  a request gets it; the backend `janserver.db.postgresql` (settings' ENGINE) installs it.

Everything else uses the ORM as Django documents it.
"""

from janserver.db.bulk import insert_many
from janserver.db.hops import run, run_concurrently, run_write
from janserver.db.lookups import row_get

__all__ = ["insert_many", "row_get", "run", "run_concurrently", "run_write"]
