"""The usage ledger's write path: record() on the hot path, batched inserts off it.

record() only appends to an in-process buffer. A flusher task in the event loop writes the
buffer in one batch insert every USAGE_FLUSH_SECONDS, or sooner once USAGE_FLUSH_BATCH
entries are waiting; the ASGI lifespan shutdown writes whatever is left (aflush()).
"""

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from inference import metrics
from inference.models import UsageRecord
from janserver import db
from usage.services import usage_rollups_add

logger = logging.getLogger("janserver.usage")

# Used until janserver/settings.py defines them.
DEFAULTS = {
    "USAGE_FLUSH_SECONDS": 1.0,
    "USAGE_FLUSH_BATCH": 500,
    "USAGE_MAX_PENDING": 100_000,
}
# Errors that say "this data cannot be stored" rather than "the database is unavailable".
DATA_ERRORS = (IntegrityError, DataError, ValueError, TypeError)


@dataclass(slots=True, kw_only=True)
class UsageEntry:
    """One UsageRecord row, by ids, as the relay knows it at the end of a request."""

    organization_id: int | None = None
    project_id: int | None = None
    api_key_id: int | None = None
    user_id: int | None = None
    provider_id: int | None = None
    request_id: str
    endpoint: str
    model: str
    stream: bool = False
    status: str
    http_status: int = 200
    prompt_tokens: int = 0
    completion_tokens: int = 0
    time_to_first_token_ms: float | None = None
    duration_ms: float = 0.0
    client_disconnected: bool = False
    created_at: datetime = field(default_factory=timezone.now)


FIELDS = tuple(f.name for f in fields(UsageEntry))
FOREIGN_KEYS = ("organization", "project", "api_key", "user", "provider")

_pending: deque[UsageEntry] = deque()
# Held by whoever takes entries from _pending and writes them, so that a shutdown flush
# waits for an in-flight periodic write instead of racing it.
_write_lock = threading.Lock()
_flusher: asyncio.Task[None] | None = None
_flusher_loop: asyncio.AbstractEventLoop | None = None
_wakeup: asyncio.Event | None = None
_dropped = 0


def _setting(name: str) -> float:
    return getattr(settings, name, DEFAULTS[name])


def record(entry: UsageEntry) -> None:
    """Queue a usage entry for the ledger; never blocks and never touches the database.

    Callable from async and sync code. Beyond USAGE_MAX_PENDING queued entries the entry
    is dropped and counted (metric usage_dropped_total).
    """
    queued = len(_pending)
    if queued >= _setting("USAGE_MAX_PENDING"):
        _drop(1, "the usage queue is full")
        return
    _pending.append(entry)
    ensure_flusher()
    if queued + 1 >= _setting("USAGE_FLUSH_BATCH"):
        _wake()


def pending_count() -> int:
    """Return how many entries wait to be written (the usage_queue_depth gauge)."""
    return len(_pending)


def _drop(count: int, reason: str) -> None:
    global _dropped
    metrics.usage_dropped(count)
    before, _dropped = _dropped, _dropped + count
    # The first drop and then one line per 10,000: a full queue must not flood the logs.
    if before == 0 or before // 10_000 != _dropped // 10_000:
        logger.warning(
            "Usage entries dropped: %s", reason, extra={"dropped_total": _dropped}
        )


def ensure_flusher() -> None:
    """Start the flusher task in the running event loop; cheap when it runs already.

    Without a running loop (sync code in a worker thread) this does nothing: the flusher
    of the server's loop, started at lifespan startup, drains the queue.
    """
    global _flusher, _flusher_loop
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if _flusher is not None and _flusher_loop is loop and not _flusher.done():
        return
    # One flusher per process: one left in another loop (tests) stops.
    _cancel(_flusher, _flusher_loop)
    _flusher_loop = loop
    # A context of its own: a task inherits its creator's context variables, and a
    # sync request's thread-sensitive context would send every later flush to that
    # request's worker thread (a new thread and connection once the request ended).
    _flusher = loop.create_task(
        _run(), name="usage-flusher", context=contextvars.Context()
    )


def _cancel(
    task: asyncio.Task[None] | None, loop: asyncio.AbstractEventLoop | None
) -> None:
    if task is not None and loop is not None and not task.done():
        with contextlib.suppress(RuntimeError):  # that loop is closed
            loop.call_soon_threadsafe(task.cancel)


def _wake() -> None:
    loop, event = _flusher_loop, _wakeup
    if loop is None or event is None or event.is_set() or loop.is_closed():
        return
    # Thread-safe: sync code in a worker thread records too.
    loop.call_soon_threadsafe(event.set)


async def _run() -> None:
    global _wakeup
    event = _wakeup = asyncio.Event()
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), _setting("USAGE_FLUSH_SECONDS"))
        event.clear()
        failed = False
        if _pending:  # an idle process keeps no database connection busy
            try:
                _, failed = await db.run_write(_flush, len(_pending))
            except Exception:
                logger.exception("Usage flush failed")
                failed = True
        metrics.set_usage_queue_depth(len(_pending))
        if failed:
            # A full queue keeps waking the flusher: wait out the interval before retrying.
            await asyncio.sleep(_setting("USAGE_FLUSH_SECONDS"))


def flush() -> int:
    """Write every pending entry now, in batches; return how many were written.

    On a database error the unwritten entries stay queued (for the next try) and the
    error is logged.
    """
    return _flush(None)[0]


async def aflush() -> int:
    """See flush(). Runs in a worker thread (db.run_write)."""
    written, _ = await db.run_write(_flush, None)
    return written


async def astop() -> None:
    """Stop this process's flusher task (at shutdown, before the last aflush())."""
    global _flusher, _flusher_loop, _wakeup
    task, _flusher, _flusher_loop, _wakeup = _flusher, None, None, None
    if task is None or task.done():
        return
    task.cancel()
    if task.get_loop() is asyncio.get_running_loop():
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _flush(limit: int | None) -> tuple[int, bool]:
    """Write up to `limit` (default: all) queued entries; return (written, failed)."""
    batch_size = max(1, int(_setting("USAGE_FLUSH_BATCH")))
    written = 0
    with _write_lock:
        remaining = len(_pending) if limit is None else min(limit, len(_pending))
        while remaining > 0:
            batch = [_pending.popleft() for _ in range(min(remaining, batch_size))]
            try:
                _write(batch)
            except Exception:
                # Put the batch back in front, in order, for the next try.
                _pending.extendleft(reversed(batch))
                logger.exception(
                    "Could not write usage records; they stay queued",
                    extra={"batch": len(batch), "pending": len(_pending)},
                )
                return written, True
            written += len(batch)
            remaining -= len(batch)
    return written, False


def _rows(batch: list[UsageEntry]) -> list[dict[str, Any]]:
    return [{name: getattr(e, name) for name in FIELDS} for e in batch]


def _write(batch: list[UsageEntry]) -> None:
    """Insert the batch in one query; if it cannot be stored as is, degrade step by step.

    A referenced row deleted meanwhile (a provider removed while it streamed) fails the
    insert, at commit time since the foreign keys are deferred: those ids are set to
    NULL and the batch retried. Rows that still fail are written one by one and only
    the bad ones are dropped.
    """
    try:
        _insert(batch)
        return
    except IntegrityError:
        _null_missing_references(batch)
    except DATA_ERRORS:
        pass
    try:
        _insert(batch)
    except DATA_ERRORS:
        _write_one_by_one(batch)


def _insert(batch: list[UsageEntry]) -> None:
    # atomic() so that a failure inside an outer transaction rolls back to a savepoint.
    # The rollups are added in the same transaction: a batch that fails, and is
    # retried, is counted once, when it is written.
    rows = _rows(batch)
    with transaction.atomic():
        db.insert_many(UsageRecord, rows)
        usage_rollups_add(rows=rows)


def _null_missing_references(batch: list[UsageEntry]) -> None:
    for name in FOREIGN_KEYS:
        attname = f"{name}_id"
        ids = {getattr(e, attname) for e in batch} - {None}
        if not ids:
            continue
        related = UsageRecord._meta.get_field(name).related_model
        existing = set(
            related._default_manager.filter(pk__in=ids).values_list("pk", flat=True)  # type: ignore[union-attr]
        )
        for entry in batch:
            if getattr(entry, attname) not in existing:
                setattr(entry, attname, None)


def _write_one_by_one(batch: list[UsageEntry]) -> None:
    bad = 0
    with transaction.atomic():
        written = []
        for entry, row in zip(batch, _rows(batch), strict=True):
            try:
                with transaction.atomic():
                    UsageRecord(**row).save(force_insert=True)
            except DATA_ERRORS:
                bad += 1
                logger.exception(
                    "Usage record cannot be stored; dropped",
                    extra={"usage": asdict(entry)},
                )
            else:
                written.append(row)
        usage_rollups_add(rows=written)
    if bad:
        _drop(bad, "records the database rejected")


def log_pending() -> int:
    """Log every queued entry, one line each, and forget them; return how many.

    The last resort at shutdown when the database cannot be written: the log keeps the
    records that the ledger could not.
    """
    count = 0
    with _write_lock:
        while _pending:
            logger.error(
                "Usage record not written",
                extra={"usage": asdict(_pending.popleft())},
            )
            count += 1
    return count


def reset_for_tests() -> None:
    """Forget the queue and the flusher (tests start from neither)."""
    global _flusher, _flusher_loop, _wakeup, _dropped
    _cancel(_flusher, _flusher_loop)
    with _write_lock:
        _pending.clear()
    _flusher, _flusher_loop, _wakeup, _dropped = None, None, None, 0
