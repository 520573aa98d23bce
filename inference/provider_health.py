"""Provider health as every process sees it, for the admin's dashboard.

Routing keeps its own view in each process (`inference.routing`: a provider that
failed there is out of rotation there and probed until it answers). While it probes,
a process publishes that here, through Django's cache: with REDIS_URL every process
and replica reads what all of them published; without Redis only this process's own.

One cache entry per provider maps each process that has it out of rotation to (when it
failed, when it last said so, in Unix seconds). An entry not renewed for
`STALE_AFTER_SECONDS` (its process died or stopped probing) is dropped. Writers read,
change and write the entry: two processes writing at once can lose one's line, which
its next renewal restores (every `PROBE_INTERVAL_SECONDS`). Publishing never fails a
caller: a cache error is logged and the dashboard falls back to its own process's view.
"""

import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache

logger = logging.getLogger("janserver.routing")

PROBE_INTERVAL_SECONDS = 5.0
STALE_AFTER_SECONDS = 3 * PROBE_INTERVAL_SECONDS
KEY = "provider-health:{}"
_HOST = socket.gethostname()

# process -> (failed at, renewed at)
Entry = dict[str, tuple[float, float]]


@dataclass(frozen=True)
class SharedHealth:
    """A provider that `processes` processes have out of rotation, the first since
    `failed_at`."""

    failed_at: datetime
    processes: int


def process_name() -> str:
    """This process as the entries name it (the pid is read each time: workers fork)."""
    return f"{_HOST}:{os.getpid()}"


def _fresh(entry: object, now: float) -> Entry:
    if not isinstance(entry, dict):
        return {}
    return {
        process: (float(failed), float(renewed))
        for process, (failed, renewed) in entry.items()
        if now - float(renewed) < STALE_AFTER_SECONDS
    }


async def apublish(
    provider: str, failed_at: float | None, *, now: float | None = None
) -> None:
    """Say that this process has the provider of public id `provider` out of rotation
    since `failed_at` (Unix seconds), or, with None, that it has it back."""
    key = KEY.format(provider)
    now = time.time() if now is None else now
    try:
        entry = _fresh(await cache.aget(key), now)
        entry.pop(process_name(), None)
        if failed_at is not None:
            entry[process_name()] = (failed_at, now)
        if entry:
            await cache.aset(key, entry, timeout=STALE_AFTER_SECONDS)
        else:
            await cache.adelete(key)
    except Exception:  # the cache is down: routing goes on, the dashboard sees less
        logger.warning("Could not publish provider %s's health", provider)


def shared_unhealthy(
    providers: Iterable[str], *, now: float | None = None
) -> dict[str, SharedHealth]:
    """Return the providers among `providers` (public ids) that some process has out
    of rotation.

    Raises the cache's error when it cannot be read.
    """
    keys = {KEY.format(provider): provider for provider in providers}
    now = time.time() if now is None else now
    found: dict[str, SharedHealth] = {}
    for key, value in cache.get_many(list(keys)).items():
        entry = _fresh(value, now)
        if entry:
            first = min(failed for failed, _ in entry.values())
            found[keys[key]] = SharedHealth(
                failed_at=datetime.fromtimestamp(first, UTC), processes=len(entry)
            )
    return found
