"""Coalescing the database work of concurrent turns into few thread hops.

Every db.run() is a hop to Django's one sync thread plus a connection checkout (a new
connection on SQLite, as CONN_MAX_AGE is 0 under ASGI) and a commit; under load those,
not the queries, cost the most. Work queued while a hop is in flight runs together in
the next hop, in one transaction (a group commit). A runner takes a run of queued
arguments and returns one outcome for each, isolating them from one another (a
savepoint each, or turns_finish's own batching): a turn is never half-written. The
database thread settles each batch as soon as it committed (see _hop).
"""

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from django.db import transaction

from janserver import background, db

MAX_BATCH = 128

Outcome = tuple[bool, Any]  # (True, result) or (False, exception)
Runner = Callable[[list[Any]], list[Outcome]]
Entry = tuple[Runner, Any, asyncio.Future[Any], Callable[[Any], None] | None]


class _Queue:
    """The work waiting for the next hop of one lane, in one event loop."""

    def __init__(self, lane: str) -> None:
        self.lane = lane
        self.pending: list[Entry] = []
        self.draining = False


# Two lanes, each with its own hops: work that only reads (a turn's conversation,
# looked up before the upstream call) never waits behind a batch of writes, and runs
# in a thread of its own (readers do not wait for the writer, also on SQLite in WAL
# mode). Writes keep to Django's one sync thread.
READ, WRITE = "read", "write"
_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Queue]]" = (
    weakref.WeakKeyDictionary()
)


_last: "tuple[weakref.ref[asyncio.AbstractEventLoop], dict[str, _Queue]] | None" = None


def _lanes(loop: asyncio.AbstractEventLoop) -> dict[str, _Queue]:
    """The queues of `loop` (the last loop's without a WeakKeyDictionary lookup, which
    builds a weak reference per call)."""
    global _last
    if _last is not None and _last[0]() is loop:
        return _last[1]
    lanes = _queues.get(loop)
    if lanes is None:
        lanes = _queues[loop] = {READ: _Queue(READ), WRITE: _Queue(WRITE)}
    _last = (weakref.ref(loop), lanes)
    return lanes


def each(calls: list[tuple[Callable[..., Any], dict[str, Any]]]) -> list[Outcome]:
    """The runner of plain calls: `function(**kwargs)` each on its own (in a savepoint
    of its own inside a transaction)."""
    outcomes: list[Outcome] = []
    isolated = transaction.get_connection().in_atomic_block
    for function, kwargs in calls:
        try:
            with transaction.atomic() if isolated else contextlib.nullcontext():
                outcomes.append((True, function(**kwargs)))
        except Exception as error:
            outcomes.append((False, error))
    return outcomes


# Runners that keep their work all-or-nothing themselves (a transaction of their own,
# or a savepoint inside the hop's): see self_contained().
_SELF_CONTAINED: set[Runner] = set()


def self_contained(runner: Runner) -> Runner:
    """Mark `runner` as opening its own transaction (a savepoint inside another). A hop
    of its work alone then runs without one around it: no savepoint, two statements
    (and on PostgreSQL two round trips) less per batch."""
    _SELF_CONTAINED.add(runner)
    return runner


def _run_all(work: list[tuple[Runner, Any]], *, atomic: bool) -> list[Outcome]:
    """Run queued work, in one transaction when `atomic` (writes; reads need none, and
    on SQLite a transaction would take the write lock; the work of one self-contained
    runner alone opens its own); consecutive work of one runner together."""
    first = work[0][0] if work else None
    if (
        atomic
        and first in _SELF_CONTAINED
        and all(runner is first for runner, _ in work)
    ):
        return first([argument for _, argument in work])
    outcomes: list[Outcome] = []
    with transaction.atomic() if atomic else contextlib.nullcontext():
        start = 0
        while start < len(work):
            runner, end = work[start][0], start + 1
            while end < len(work) and work[end][0] is runner:
                end += 1
            outcomes += runner([argument for _, argument in work[start:end]])
            start = end
    return outcomes


async def batched(
    runner: Runner,
    argument: Any,
    *,
    orphan: Callable[[Any], None] | None = None,
    lane: str = WRITE,
) -> Any:
    """Queue `argument` for `runner` in the next shared hop; return its result or
    raise its exception.

    `orphan(result)` is called instead when the caller was cancelled meanwhile (a
    client that went away), to undo what nobody will use.
    """
    loop = asyncio.get_running_loop()
    queue = _lanes(loop)[lane]
    future: asyncio.Future[Any] = loop.create_future()
    queue.pending.append((runner, argument, future, orphan))
    if not queue.draining:
        queue.draining = True
        background.spawn(_drain(queue), name="conversation-db-batch")
    return await future


async def coalesced(
    function: Callable[..., Any],
    /,
    *,
    orphan: Callable[[Any], None] | None = None,
    lane: str = WRITE,
    **kwargs: Any,
) -> Any:
    """Run the sync service `function(**kwargs)` in the next shared hop (see batched)."""
    return await batched(each, (function, kwargs), orphan=orphan, lane=lane)


def _settle(entry: Entry, outcome: Outcome) -> None:
    _runner, _argument, future, orphan = entry
    succeeded, value = outcome
    if future.cancelled():
        if succeeded and orphan is not None:
            orphan(value)
    elif future.done():  # settled already by the database thread
        return
    elif succeeded:
        future.set_result(value)
    else:
        future.set_exception(value)


async def _drain(queue: _Queue) -> None:
    loop = asyncio.get_running_loop()
    batch: list[Entry] = []
    try:
        while queue.pending:
            batch = queue.pending[:MAX_BATCH]
            del queue.pending[:MAX_BATCH]
            await _hop(loop, queue.lane, batch)
    except BaseException:  # cancelled (shutdown): nobody will settle these
        for _runner, _argument, future, _orphan in [*batch, *queue.pending]:
            future.cancel()
        queue.pending.clear()
        raise
    finally:
        queue.draining = False


async def _hop(loop: asyncio.AbstractEventLoop, lane: str, batch: list[Entry]) -> None:
    """Run `batch` in one database hop.

    The database thread settles the batch's futures itself, right after the commit
    (one turn of the event loop later): the hop's own way back (asgiref's future,
    shielded, then this task) takes a few more turns, each a few ms long in a busy
    loop, that every turn's response would otherwise wait for.
    """
    run = db.run if lane == WRITE else db.run_concurrently
    try:
        await run(_run_and_settle, loop, batch, atomic=lane == WRITE)
    except Exception as error:  # the hop failed before it could settle the batch
        for entry in batch:
            _settle(entry, (False, error))


def _run_and_settle(
    loop: asyncio.AbstractEventLoop, batch: list[Entry], *, atomic: bool
) -> None:
    """In the database thread: run the batch, then have the loop settle it."""
    work = [(runner, argument) for runner, argument, _, _ in batch]
    try:
        outcomes = _run_all(work, atomic=atomic)
    except Exception as error:  # the transaction's commit failed: all of it
        outcomes = [(False, error)] * len(batch)
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(_settle_batch, batch, outcomes)


def _settle_batch(batch: list[Entry], outcomes: list[Outcome]) -> None:
    for entry, outcome in zip(batch, outcomes, strict=True):
        _settle(entry, outcome)
