"""Per-process cache of what hot paths look up, with invalidation broadcast to every process.

Who a credential is, and the conversation a conversation-aware completion continues.
Authentication on the hot path reads only this cache. A change that affects a credential
(key revoked, user disabled, session revoked) drops the entry here at once and, after the
transaction commits, is broadcast on the channel layer so that every other process drops
it within milliseconds (Redis). Without Redis, the short TTL bounds staleness.

With Redis, entries live AUTH_CACHE_TTL_SECONDS only while this process is known to
receive the broadcasts: its listener checks Redis whenever no message came for
HEALTH_CHECK_SECONDS. Redis unreachable, entries older than the short TTL of a
deployment without Redis (AUTH_CACHE_FALLBACK_TTL_SECONDS) count as missing: a key
revoked elsewhere meanwhile stops working here within seconds, not a minute.
"""

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger("janserver.auth")

GROUP = "janserver.auth.invalidate"
MISSING = object()


class TTLCache:
    """A thread-safe dict whose entries expire `ttl` seconds after they were stored,
    or `fallback_ttl` seconds while `trusted()` says broadcasts may be lost.

    Storing an entry drops those past `ttl` (the oldest first) and, beyond
    `max_entries`, the least recently stored: the cache holds what was stored within
    one TTL, not `max_entries` entries of which most expired long ago (a soak of one
    worker grew by ~1 MiB a minute that way).
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        fallback_ttl: float | None = None,
        trusted: Callable[[], bool] = lambda: True,
    ) -> None:
        self.ttl = ttl
        self.fallback_ttl = ttl if fallback_ttl is None else min(ttl, fallback_ttl)
        self.trusted = trusted
        self.max_entries = max_entries
        # key -> (stored at, value)
        self._data: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Any:
        """Return the cached value, or MISSING when absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return MISSING
        ttl = self.ttl if self.trusted() else self.fallback_ttl
        if entry[0] + ttl < time.monotonic():
            return MISSING
        return entry[1]

    def __len__(self) -> int:
        return len(self._data)

    def set(self, key: tuple[str, str], value: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self._data[key] = (now, value)
            self._data.move_to_end(key)
            # Entries are in the order they were stored: the expired ones come first.
            while self._data:
                stored_at, _ = next(iter(self._data.values()))
                if stored_at + self.ttl >= now and len(self._data) <= self.max_entries:
                    break
                self._data.popitem(last=False)

    def drop(self, match: Callable[[tuple[str, str], Any], bool]) -> int:
        """Remove every entry for which match(key, value) is true; return how many."""
        with self._lock:
            doomed = [k for k, (_, v) in self._data.items() if match(k, v)]
            for key in doomed:
                del self._data[key]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_cache: TTLCache | None = None


def cache() -> TTLCache:
    """Return this process's credential cache (built from settings on first use)."""
    global _cache
    if _cache is None:
        _cache = TTLCache(
            settings.AUTH_CACHE_TTL_SECONDS,
            settings.AUTH_CACHE_MAX_ENTRIES,
            fallback_ttl=settings.AUTH_CACHE_FALLBACK_TTL_SECONDS,
            trusted=broadcasts_received,
        )
    return _cache


# Until when this process is known to receive broadcast invalidations (monotonic).
_received_until = 0.0
HEALTH_CHECK_SECONDS = 5.0


def broadcasts_received() -> bool:
    """Whether invalidations broadcast by other processes reach this one now: always
    without Redis (nothing is broadcast; the TTL is short anyway), with Redis while
    the listener is subscribed and Redis answered within the last check."""
    return not settings.REDIS_URL or time.monotonic() < _received_until


def received_for(seconds: float) -> None:
    """Vouch that broadcasts reach this process for the next `seconds` (the listener)."""
    global _received_until
    _received_until = time.monotonic() + seconds


def get_or_load(key: tuple[str, str], load: Callable[[], Any]) -> Any:
    """Return the cached value for `key`, loading (and caching, even None) on a miss."""
    value = cache().get(key)
    if value is MISSING:
        value = load()
        cache().set(key, value)
    return value


# An invalidation is (kind, value): ("key", key_hash), ("user", user_public_id),
# ("session", family), ("conversation", public_id); an empty value drops every entry of
# the kind, and ("all", "") everything.
_hooks: dict[str, list[Callable[[str], None]]] = {}


def on_invalidate(kind: str, hook: Callable[..., None]) -> None:
    """Call `hook(value)` whenever an invalidation of `kind` arrives (here or broadcast).

    Other per-process caches (the model catalog) ride on the same broadcast.
    """
    _hooks.setdefault(kind, []).append(lambda value: hook())


def _apply(kind: str, value: str) -> None:
    for hook in _hooks.get(kind, ()):
        hook(value)
    if kind == "all":
        cache().clear()
        return

    def match(key: tuple[str, str], cached: Any) -> bool:
        if key == (kind, value) or (not value and key[0] == kind):
            return True
        # Principals of keys owned by a changed user go too.
        return kind == "user" and getattr(cached, "user_public_id", None) == value

    cache().drop(match)


def invalidate(kind: str, value: str = "") -> None:
    """Forget a credential here now and, once the transaction commits, everywhere."""
    _apply(kind, value)
    transaction.on_commit(lambda: _broadcast(kind, value))


def _broadcast(kind: str, value: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "auth.invalidate", "kind": kind, "value": value}
    try:
        async_to_sync(layer.group_send)(GROUP, message)
    except Exception:
        # The TTL still bounds staleness; a lost broadcast must not fail the change.
        logger.exception("Could not broadcast an auth cache invalidation")


_listener: asyncio.Task[None] | None = None
_listener_started_at = 0.0
LISTENER_RETRY_SECONDS = 5.0


def ensure_listener() -> None:
    """Start, in the running event loop, the task that applies broadcast invalidations.

    Cheap when it runs already; a listener that failed is retried after a pause.
    """
    global _listener, _listener_started_at
    if _listener is not None and not _listener.done():
        return
    now = time.monotonic()
    if _listener is not None and now - _listener_started_at < LISTENER_RETRY_SECONDS:
        return
    _listener_started_at = now
    _listener = asyncio.get_running_loop().create_task(
        _listen(), name="auth-cache-invalidation"
    )


async def _listen() -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    # Anything may have changed while this process was not yet listening.
    cache().clear()
    try:
        while True:
            received_for(2 * HEALTH_CHECK_SECONDS)
            try:
                async with asyncio.timeout(HEALTH_CHECK_SECONDS):
                    message = await layer.receive(channel)
            except TimeoutError:
                await _redis_ping()  # quiet: is it still there?
                continue
            _apply(message.get("kind", "all"), message.get("value", ""))
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await layer.group_discard(GROUP, channel)
        raise
    except Exception:
        received_for(0)
        logger.exception("Auth cache listener stopped; relying on the short TTL")


_pings: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = (
    weakref.WeakKeyDictionary()
)


async def _redis_ping() -> None:
    """Raise unless Redis answers (within the cache's socket timeouts)."""
    if not settings.REDIS_URL:
        return
    import redis.asyncio

    loop = asyncio.get_running_loop()
    client = _pings.get(loop)
    if client is None:
        client = _pings[loop] = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2
        )
    await client.ping()


def reset_for_tests() -> None:
    """Forget every cached credential and conversation, and whether broadcasts were
    received (tests start from none)."""
    global _received_until
    cache().clear()
    _received_until = 0.0
