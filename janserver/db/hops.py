"""Database work from async code: one thread hop, the connection handed back after."""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections, models, router

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


async def run_write(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run sync code that writes but need not wait behind Django's sync thread: in a
    thread of the loop's pool (run_concurrently), except on SQLite, which takes one
    writer at a time anyway. There it shares the sync thread's connection (run): a
    write from a second connection would wait in SQLite's busy loop while a batch of
    turns holds the lock, and make every other connection drop its page cache."""
    if connections[router.db_for_write(models.Model)].vendor == "sqlite":
        return await run(function, *args, **kwargs)
    return await run_concurrently(function, *args, **kwargs)
