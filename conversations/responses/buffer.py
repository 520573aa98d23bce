"""Where background responses leave their events, and how a cancel reaches their runner.

Events: a background response's runner appends every event it makes; any process can
replay them from a sequence number and then follow new ones as they come. With
REDIS_URL set they go to one Redis stream per response (entry id `0-<seq + 1>`,
expiring RESPONSES_EVENT_TTL_SECONDS after the last write), so every replica serves a
resume; otherwise to an in-process buffer with the same expiry.

Cancel: the runner of a background response listens on a channel layer group named
after it (Redis pub/sub with REDIS_URL, in-process otherwise); a cancel, wherever it is
received, is broadcast to that group. The database row (status `cancelled`) is the
record a runner that has not started yet finds.
"""

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

Event = dict[str, Any]
READ_BATCH = 500


def event_ttl() -> int:
    """Return how long (seconds) the events of a response stay after the last one."""
    return int(settings.RESPONSES_EVENT_TTL_SECONDS)


class EventBuffer(Protocol):
    async def append(self, response_id: str, event: Event) -> None: ...

    async def read(self, response_id: str, after: int, wait: float) -> list[Event]:
        """Return the events numbered above `after`, waiting up to `wait` s for one."""
        ...

    async def exists(self, response_id: str) -> bool: ...


@dataclass
class _Entry:
    events: list[Event] = field(default_factory=list)
    expires_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryBuffer:
    """The in-process EventBuffer (one process: no REDIS_URL)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def _prune(self) -> None:
        now = time.monotonic()
        for key in [k for k, e in self._entries.items() if e.expires_at < now]:
            del self._entries[key]

    async def append(self, response_id: str, event: Event) -> None:
        self._prune()
        entry = self._entries.setdefault(response_id, _Entry())
        entry.events.append(event)
        entry.expires_at = time.monotonic() + event_ttl()
        entry.changed.set()
        entry.changed = asyncio.Event()

    async def read(self, response_id: str, after: int, wait: float) -> list[Event]:
        entry = self._entries.get(response_id)
        if entry is None:  # not started yet: wait for its first event
            entry = self._entries[response_id] = _Entry(
                expires_at=time.monotonic() + event_ttl()
            )
        newer = [
            e for e in entry.events[max(after, 0) :] if e["sequence_number"] > after
        ]
        if newer:
            return newer
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await entry.changed.wait()
        return [e for e in entry.events if e["sequence_number"] > after]

    async def exists(self, response_id: str) -> bool:
        self._prune()
        entry = self._entries.get(response_id)
        return entry is not None and bool(entry.events)


_redis_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = (
    weakref.WeakKeyDictionary()
)


def _redis() -> Any:
    """Return this event loop's Redis client (for the REDIS_URL of the moment)."""
    import redis.asyncio

    loop = asyncio.get_running_loop()
    url, client = _redis_clients.get(loop, (None, None))
    if client is None or url != settings.REDIS_URL:
        client = redis.asyncio.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=1,
            # Longer than the longest blocking read (a heartbeat's wait).
            socket_timeout=float(settings.SSE_HEARTBEAT_SECONDS) + 5,
        )
        _redis_clients[loop] = (settings.REDIS_URL, client)
    return client


class RedisBuffer:
    """The EventBuffer shared by every process, in Redis streams."""

    prefix = "janserver:responses:events:"

    async def append(self, response_id: str, event: Event) -> None:
        key = self.prefix + response_id
        data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        async with _redis().pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"e": data}, id=f"0-{event['sequence_number'] + 1}")
            pipe.expire(key, event_ttl())
            await pipe.execute()

    async def read(self, response_id: str, after: int, wait: float) -> list[Event]:
        key = self.prefix + response_id
        start = f"0-{after + 1}"
        entries = await _redis().xrange(key, min=f"({start}", count=READ_BATCH)
        if not entries:
            answer = await _redis().xread(
                {key: start}, count=READ_BATCH, block=max(1, int(wait * 1000))
            )
            entries = answer[0][1] if answer else []
        return [json.loads(fields[b"e"]) for _id, fields in entries]

    async def exists(self, response_id: str) -> bool:
        return bool(await _redis().exists(self.prefix + response_id))


_memory = MemoryBuffer()


def event_buffer() -> EventBuffer:
    """Return the buffer of this deployment (see the module docstring)."""
    return RedisBuffer() if settings.REDIS_URL else _memory


# Cancel signals.


def _group(response_id: str) -> str:
    return f"janserver.responses.cancel.{response_id}"


async def cancel_broadcast(response_id: str) -> None:
    """Tell the runner of a response, in whichever process, to stop."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(_group(response_id), {"type": "response.cancel"})


@contextlib.asynccontextmanager
async def cancel_watch(
    response_id: str, on_cancel: Callable[[], None]
) -> AsyncIterator[None]:
    """Call `on_cancel()` when a cancel of `response_id` is broadcast, while inside."""
    layer = get_channel_layer()
    if layer is None:
        yield
        return
    channel = await layer.new_channel()
    await layer.group_add(_group(response_id), channel)

    async def listen() -> None:
        await layer.receive(channel)
        on_cancel()

    listener = asyncio.get_running_loop().create_task(listen())
    try:
        yield
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
        with contextlib.suppress(Exception):
            await layer.group_discard(_group(response_id), channel)
