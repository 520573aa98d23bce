"""The PostgreSQL pool's check: a connection the server closed while it sat idle in the
pool (a restart, a failover, a proxy's idle timeout) is never handed to a request.

Without it, every connection left idle across a database restart fails one request
with a 503 after the database is back: up to DATABASE_POOL_MAX_SIZE per process.
"""

import logging
import select
from typing import Any

from django.db import connections
from psycopg import Connection, OperationalError
from psycopg_pool import ConnectionPool

logger = logging.getLogger("janserver.db")


def check(connection: Connection, *, alias: str = "default") -> None:
    """Raise if `connection`, about to leave the pool of `alias`, is unusable.

    A healthy idle connection has nothing to read, so a socket with nothing to read
    passes without a round trip (the per-request cost is one poll). A readable one was
    closed by the server or carries a notice: ConnectionPool.check_connection decides.
    When it is dead, the database went away since it was pooled: every other idle
    connection is checked too (ConnectionPool.check(), which replaces the dead ones),
    so that the pool's next attempt does not meet the next dead connection.
    """
    if connection.closed or connection.broken:
        raise OperationalError("the connection is closed")
    if not _readable(connection.fileno()):
        return
    try:
        ConnectionPool.check_connection(connection)
    except Exception:
        logger.warning("A pooled database connection was closed; checking the others")
        wrapper: Any = connections[alias]  # django-stubs has no `pool` yet
        wrapper.pool.check()
        raise


def _readable(fileno: int) -> bool:
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))
