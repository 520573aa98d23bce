"""Database work from async code: one thread hop, and the connection handed back after."""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")


def _cleanly(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return function(*args, **kwargs)
    finally:
        # No request_finished signal will close this thread's connection for us (what
        # close_old_connections() does, except inside a transaction such as a test's).
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()


async def run(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run sync ORM code in Django's sync thread, then release its connection."""
    return await sync_to_async(_cleanly)(function, *args, **kwargs)
