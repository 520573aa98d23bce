"""Per-process cache of what hot paths look up, with invalidation broadcast to every process.

Who a credential is, and the conversation a conversation-aware completion continues.
Authentication on the hot path reads only this cache. A change that affects a credential
(key revoked, user disabled, session revoked) drops the entry here at once and, after the
transaction commits, is broadcast on the channel layer so that every other process drops
it within milliseconds (Redis). Without Redis, the short TTL bounds staleness.
"""

import asyncio
import contextlib
import logging
import threading
import time
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
    """A thread-safe LRU dict whose entries expire `ttl` seconds after they were stored."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, str], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Any:
        """Return the cached value, or MISSING when absent or expired."""
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            return MISSING
        return entry[1]

    def set(self, key: tuple[str, str], value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
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
            settings.AUTH_CACHE_TTL_SECONDS, settings.AUTH_CACHE_MAX_ENTRIES
        )
    return _cache


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
            message = await layer.receive(channel)
            _apply(message.get("kind", "all"), message.get("value", ""))
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await layer.group_discard(GROUP, channel)
        raise
    except Exception:
        logger.exception("Auth cache listener stopped; relying on the TTL")


def reset_for_tests() -> None:
    """Forget every cached credential and conversation (tests start from none)."""
    cache().clear()
