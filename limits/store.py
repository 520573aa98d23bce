"""Where the counters live: Redis, shared by every process and replica (one script
call checks and takes every meter of a request atomically), or this process's memory
without REDIS_URL. Both implement the same rules:

- a rate (requests or tokens per window) is a token bucket of `limit` that refills
  continuously over the window, kept as its theoretical arrival time (GCRA): a request
  of cost c passes when the bucket holds c; reset is when it is full again;
- concurrency is a set of slots, each with a lease that expires, so that a process
  killed mid-request cannot hold a slot for longer than RATE_LIMIT_SLOT_LEASE_SECONDS.

A request either takes every meter or none.
"""

import asyncio
import math
import weakref
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from limits.rules import Kind, Meter


@dataclass(frozen=True, slots=True)
class Taken:
    """A meter after a request took it: what is left, and when it is full again."""

    meter: Meter
    remaining: int
    reset_ms: int


@dataclass(frozen=True, slots=True)
class Refused:
    """The first meter that could not be taken, how much of it is used, and when the
    request would pass (None: when a slot frees up)."""

    meter: Meter
    used: int
    retry_after_ms: int | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished request gives back: its slots, and its tokens' difference
    between what was reserved and what was used (positive: used more)."""

    meters: tuple[Meter, ...]
    slot: str
    token_delta: int


ACQUIRE = """
local now = tonumber(ARGV[1])
local slot = ARGV[2]
local lease = tonumber(ARGV[3])
local tats = {}
for i = 1, #KEYS do
  local at = 3 + (i - 1) * 4
  local kind, limit = ARGV[at + 1], tonumber(ARGV[at + 2])
  local window, cost = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local used = redis.call('ZCARD', KEYS[i])
    if used + 1 > limit then return {0, i, used, -1} end
  else
    local interval = window / limit
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local new_tat = math.ceil(tat + cost * interval)
    if new_tat - now > window then
      return {0, i, math.ceil((tat - now) / interval), math.ceil(new_tat - window - now)}
    end
    tats[i] = new_tat
  end
end
local out = {1}
for i = 1, #KEYS do
  local at = 3 + (i - 1) * 4
  local kind, limit, window = ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  if kind == 'c' then
    redis.call('ZADD', KEYS[i], now + lease, slot)
    redis.call('PEXPIRE', KEYS[i], lease)
    out[#out + 1] = limit - redis.call('ZCARD', KEYS[i])
    out[#out + 1] = 0
  else
    local new_tat = tats[i]
    redis.call('SET', KEYS[i], new_tat, 'PX', new_tat - now + 1000)
    out[#out + 1] = math.floor((window - (new_tat - now)) / (window / limit))
    out[#out + 1] = new_tat - now
  end
end
return out
"""

SETTLE = """
local now = tonumber(ARGV[1])
local slot = ARGV[2]
for i = 1, #KEYS do
  local at = 2 + (i - 1) * 4
  local kind, limit = ARGV[at + 1], tonumber(ARGV[at + 2])
  local window, delta = tonumber(ARGV[at + 3]), tonumber(ARGV[at + 4])
  if kind == 'c' then
    redis.call('ZREM', KEYS[i], slot)
  elseif delta ~= 0 then
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local new_tat = math.ceil(tat + delta * window / limit)
    if new_tat > now then
      redis.call('SET', KEYS[i], new_tat, 'PX', new_tat - now + 1000)
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 1
"""


def _args(meters: list[Meter] | tuple[Meter, ...], amounts: list[int]) -> list[Any]:
    args: list[Any] = []
    for meter, amount in zip(meters, amounts, strict=True):
        kind = "c" if meter.kind == Kind.CONCURRENT else "r"
        args += [kind, meter.limit, meter.window_ms, amount]
    return args


def _taken(meters: list[Meter], flat: list[int]) -> list[Taken]:
    return [
        Taken(meter, int(flat[2 * i]), int(flat[2 * i + 1]))
        for i, meter in enumerate(meters)
    ]


class RedisStore:
    """The counters in Redis (every process and replica shares them)."""

    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> tuple[Any, Any, Any]:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        held = self._clients.get(loop)
        if held is None or held[0] != settings.REDIS_URL:
            client = redis.asyncio.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
            )
            held = (
                settings.REDIS_URL,
                client,
                client.register_script(ACQUIRE),
                client.register_script(SETTLE),
            )
            self._clients[loop] = held
        return held[1], held[2], held[3]

    async def acquire(
        self, meters: list[Meter], costs: list[int], slot: str, now_ms: int
    ) -> list[Taken] | Refused:
        _client, acquire, _settle = self._client()
        lease_ms = settings.RATE_LIMIT_SLOT_LEASE_SECONDS * 1000
        answer = await acquire(
            keys=[m.key for m in meters],
            args=[now_ms, slot, lease_ms, *_args(meters, costs)],
        )
        if answer[0] == 0:
            retry = int(answer[3])
            meter = meters[int(answer[1]) - 1]
            return Refused(meter, int(answer[2]), None if retry < 0 else retry)
        return _taken(meters, answer[1:])

    async def settle(self, settlements: list[Settlement], now_ms: int) -> None:
        client, _acquire, settle = self._client()
        async with client.pipeline(transaction=False) as pipe:
            for done in settlements:
                await settle(
                    keys=[m.key for m in done.meters],
                    args=[now_ms, done.slot, *_args(done.meters, _deltas(done))],
                    client=pipe,
                )
            await pipe.execute()


def _deltas(done: Settlement) -> list[int]:
    return [done.token_delta if m.kind == Kind.TOKENS else 0 for m in done.meters]


class LocalStore:
    """The same counters in this process's memory (no REDIS_URL): the limits hold per
    process. Each call runs without awaiting, so it is atomic in the event loop."""

    def __init__(self) -> None:
        self._tats: dict[str, int] = {}
        self._slots: dict[str, dict[str, int]] = {}

    async def acquire(
        self, meters: list[Meter], costs: list[int], slot: str, now_ms: int
    ) -> list[Taken] | Refused:
        new_tats: dict[str, int] = {}
        for meter, cost in zip(meters, costs, strict=True):
            if meter.kind == Kind.CONCURRENT:
                slots = self._live_slots(meter.key, now_ms)
                if len(slots) + 1 > meter.limit:
                    return Refused(meter, len(slots), None)
                continue
            interval = meter.window_ms / meter.limit
            tat = max(new_tats.get(meter.key, self._tats.get(meter.key, 0)), now_ms)
            new_tat = math.ceil(tat + cost * interval)
            if new_tat - now_ms > meter.window_ms:
                used = math.ceil((tat - now_ms) / interval)
                return Refused(meter, used, new_tat - meter.window_ms - now_ms)
            new_tats[meter.key] = new_tat
        taken = []
        lease_ms = settings.RATE_LIMIT_SLOT_LEASE_SECONDS * 1000
        for meter in meters:
            if meter.kind == Kind.CONCURRENT:
                slots = self._slots.setdefault(meter.key, {})
                slots[slot] = now_ms + lease_ms
                taken.append(Taken(meter, meter.limit - len(slots), 0))
                continue
            new_tat = self._tats[meter.key] = new_tats[meter.key]
            interval = meter.window_ms / meter.limit
            remaining = math.floor((meter.window_ms - (new_tat - now_ms)) / interval)
            taken.append(Taken(meter, remaining, new_tat - now_ms))
        return taken

    def _live_slots(self, key: str, now_ms: int) -> dict[str, int]:
        slots = self._slots.get(key, {})
        for held, expires in list(slots.items()):
            if expires <= now_ms:
                del slots[held]
        return slots

    async def settle(self, settlements: list[Settlement], now_ms: int) -> None:
        for done in settlements:
            for meter, delta in zip(done.meters, _deltas(done), strict=True):
                if meter.kind == Kind.CONCURRENT:
                    self._slots.get(meter.key, {}).pop(done.slot, None)
                elif delta:
                    tat = max(self._tats.get(meter.key, 0), now_ms)
                    new_tat = math.ceil(tat + delta * meter.window_ms / meter.limit)
                    self._tats[meter.key] = max(new_tat, now_ms)
