"""Where the counters live: Redis, shared by every process and replica (one script
call checks and takes every meter of a request atomically), or this process's memory
without REDIS_URL. Both implement the same rules:

- a rate (requests or tokens per window) is a token bucket of `limit` that refills
  continuously over the window, kept as its theoretical arrival time (GCRA): a request
  of cost c passes when the bucket holds c; reset is when it is full again;
- concurrency is a set of slots, each with a lease that expires, so that a process
  killed mid-request cannot hold a slot for longer than RATE_LIMIT_SLOT_LEASE_SECONDS;
- a budget is the month's spend in nanodollars, spent and reserved: a request passes
  when its estimated cost fits under the cap. A counter Redis does not hold (a new
  month, a restarted Redis) starts from the usage ledger's spend, given by the caller.

A request either takes every meter or none.
"""

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, overload

from django.conf import settings
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from limits.rules import Kind, Meter

logger = logging.getLogger("janserver.limits")


@dataclass(slots=True)
class Taken:
    """A meter after a request took it: what is left, and when it is full again."""

    meter: Meter
    remaining: int
    reset_ms: int


class MeterSet:
    """A request's meters as the store reads them, worked out once for every request
    of one caller and model (limits.admission keeps them with the rules): their keys,
    the script's text of them with the amounts left open (a request and a slot cost 1;
    a token meter the request's tokens; a budget its cost, after the ledger's spend),
    where the request and token meters are (for OpenAI's headers), and which meters a
    settlement can change (slots, tokens, budgets)."""

    __slots__ = (
        "_budgets",
        "_text",
        "_tokens",
        "budgets",
        "keys",
        "meters",
        "requests_at",
        "slots",
        "token_meters",
        "tokens_at",
    )  # fmt: skip

    def __init__(self, meters: Sequence[Meter]) -> None:
        self.meters = tuple(meters)
        self.keys = tuple(m.key for m in self.meters)
        parts = []
        for m in self.meters:
            if m.kind == Kind.TOKENS:
                parts.append(f"{m.head}%d")
            elif m.kind == Kind.BUDGET:
                parts.append(f'"b",{m.limit},%d,%d')
            else:
                parts.append(f"{m.head}1")
        self._text = f"[{','.join(parts)}]"  # no other "%": numbers and letters only
        kinds = [m.kind for m in self.meters]
        self._tokens = kinds.count(Kind.TOKENS)
        self._budgets = kinds.count(Kind.BUDGET)
        self.requests_at = tuple(i for i, k in enumerate(kinds) if k == Kind.REQUESTS)
        self.tokens_at = tuple(i for i, k in enumerate(kinds) if k == Kind.TOKENS)
        self.slots = tuple(m for m in self.meters if m.kind == Kind.CONCURRENT)
        self.token_meters = tuple(m for m in self.meters if m.kind == Kind.TOKENS)
        self.budgets = tuple(m for m in self.meters if m.kind == Kind.BUDGET)

    def admission(
        self, tokens: int, cost: int = 0, spent: dict[str, int] | None = None
    ) -> str:
        """The script's text of an admission (a budget's window is the ledger's
        spend, from `spent` by key)."""
        if not self._budgets:
            return (
                self._text % ((tokens,) * self._tokens) if self._tokens else self._text
            )
        values: list[int] = []
        for m in self.meters:
            if m.kind == Kind.TOKENS:
                values.append(tokens)
            elif m.kind == Kind.BUDGET:
                values += ((spent or {}).get(m.key, 0), cost)
        return self._text % tuple(values)


def cost_of(meter: Meter, tokens: int, cost: int) -> int:
    """What a request of `tokens` tokens and `cost` nanodollars takes of `meter` (a
    request or a slot: 1)."""
    if meter.kind == Kind.TOKENS:
        return tokens
    return cost if meter.kind == Kind.BUDGET else 1


class Admitted(Sequence[Taken]):
    """An admission's answer: what is left of each meter and when it is full again,
    as the script returned them (remaining, reset ms; two numbers a meter), read
    into a Taken only when asked for."""

    __slots__ = ("answer", "meters")

    def __init__(self, meters: MeterSet, answer: list[int]) -> None:
        self.meters, self.answer = meters, answer

    def __len__(self) -> int:
        return len(self.meters.meters)

    @overload
    def __getitem__(self, index: int) -> Taken: ...

    @overload
    def __getitem__(self, index: slice) -> list[Taken]: ...

    def __getitem__(self, index: int | slice) -> Taken | list[Taken]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        meter = self.meters.meters[index]  # IndexError past the end, as a list
        if index < 0:
            index += len(self)
        return Taken(meter, self.answer[2 * index], self.answer[2 * index + 1])


@dataclass(frozen=True, slots=True)
class Refused:
    """The first meter that could not be taken, how much of it is used, and when the
    request would pass (None: when a slot frees up)."""

    meter: Meter
    used: int
    retry_after_ms: int | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a finished request gives back: its slots, and the difference between what
    was reserved and what was used (positive: used more), in tokens and nanodollars."""

    meters: MeterSet
    slot: str
    token_delta: int
    cost_delta: int = 0


# A budget counter outlives its month by a few days (late settlements find it).
BUDGET_TTL_MS = 40 * 86_400_000


# One script call carries a batch's admissions and settlements (of one organization:
# their keys share its Redis Cluster hash tag), run in the order they were made.
# KEYS: every call's keys, in order. ARGV: for each call its letter ("a" an admission,
# "s" a settlement), its number of keys, then its arguments: for an admission now (ms),
# the slot's id, its lease (ms), its meters as one JSON list of "kind", limit, window,
# cost, four items a meter (kind: r a rate, c concurrency, b a budget whose window is
# the ledger's spend; cjson decodes it in C, many times faster than Lua patterns) and a
# budget counter's time to live (ms); for a settlement now (ms), the slot's id and the
# meters as for an admission, each with the tokens' difference (used - reserved) as its
# amount. Returns each call's answer: an admission's {1, remaining, reset ms, ...} per
# meter or {0, meter index, used, retry after ms (-1: a slot, -2: a budget)}; 1 for a
# settlement.
SCRIPT = """
-- A call's meters, decoded: a flat list, four items a meter (kind, limit, window,
-- amount); meter i's are at 4i - 3 .. 4i.
local function meters_of(spec)
  return cjson.decode(spec)
end

-- The values of the meters that are counters (rates and budgets; not concurrency),
-- read in one MGET: by meter index, false where Redis holds none.
local function counters(k, meters)
  local keys, at = {}, {}
  for i = 1, #meters / 4 do
    if meters[4 * i - 3] ~= 'c' then
      keys[#keys + 1] = KEYS[k + i]
      at[#keys] = i
    end
  end
  local values = {}
  if #keys > 0 then
    local read = redis.call('MGET', unpack(keys))
    for j = 1, #keys do values[at[j]] = read[j] end
  end
  return values
end

local function acquire(k, now, slot, lease, spec, budget_ttl)
  local meters = meters_of(spec)
  local values = counters(k, meters)
  local tats = {}
  for i = 1, #meters / 4 do
    local kind, limit, window, cost = unpack(meters, 4 * i - 3, 4 * i)
    local key = KEYS[k + i]
    if kind == 'c' then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      local used = redis.call('ZCARD', key)
      if used + 1 > limit then return {0, i, used, -1} end
      tats[i] = used
    elseif kind == 'b' then
      -- "window" carries the ledger's spend, for a counter Redis does not hold.
      local spent = tonumber(values[i] or window)
      if spent + cost > limit then return {0, i, spent, -2} end
      tats[i] = spent + cost
    else
      local interval = window / limit
      local tat = tonumber(values[i] or '0')
      if tat < now then tat = now end
      local new_tat = math.ceil(tat + cost * interval)
      if new_tat - now > window then
        return {0, i, math.ceil((tat - now) / interval), math.ceil(new_tat - window - now)}
      end
      tats[i] = new_tat
    end
  end
  local out = {1}
  for i = 1, #meters / 4 do
    local kind, limit, window = unpack(meters, 4 * i - 3, 4 * i - 1)
    local key = KEYS[k + i]
    if kind == 'c' then
      -- A slot's id is new: the set holds one more than it did.
      redis.call('ZADD', key, now + lease, slot)
      redis.call('PEXPIRE', key, lease)
      out[#out + 1] = limit - tats[i] - 1
      out[#out + 1] = 0
    elseif kind == 'b' then
      redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', budget_ttl)
      out[#out + 1] = limit - tats[i]
      out[#out + 1] = 0
    else
      local new_tat = tats[i]
      redis.call('SET', key, new_tat, 'PX', new_tat - now + 1000)
      out[#out + 1] = math.floor((window - (new_tat - now)) / (window / limit))
      out[#out + 1] = new_tat - now
    end
  end
  return out
end

local function settle(k, now, slot, spec)
  local meters = meters_of(spec)
  local values = counters(k, meters)
  for i = 1, #meters / 4 do
    local kind, limit, window, delta = unpack(meters, 4 * i - 3, 4 * i)
    local key = KEYS[k + i]
    if kind == 'c' then
      redis.call('ZREM', key, slot)
    elseif kind == 'b' then
      local spent = values[i]
      if spent and delta ~= 0 then
        local ttl = redis.call('PTTL', key)
        local value = string.format('%.0f', math.max(tonumber(spent) + delta, 0))
        redis.call('SET', key, value, 'PX', math.max(ttl, 1000))
      end
    elseif delta ~= 0 then
      local tat = tonumber(values[i] or '0')
      if tat < now then tat = now end
      local new_tat = math.ceil(tat + delta * window / limit)
      if new_tat > now then
        redis.call('SET', key, new_tat, 'PX', new_tat - now + 1000)
      else
        redis.call('DEL', key)
      end
    end
  end
  return 1
end

local out = {}
local a, k = 1, 0
while a <= #ARGV do
  local n = tonumber(ARGV[a + 1])
  if ARGV[a] == 'a' then
    out[#out + 1] = acquire(k, tonumber(ARGV[a + 2]), ARGV[a + 3],
      tonumber(ARGV[a + 4]), ARGV[a + 5], tonumber(ARGV[a + 6]))
    a = a + 7
  else
    out[#out + 1] = settle(k, tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4])
    a = a + 5
  end
  k = k + n
end
return out
"""

ADMISSION, SETTLEMENT = "a", "s"


def _spec(meters: list[Meter], amounts: list[int]) -> str:
    """Meters and their amounts as the script reads them: one JSON list, four items a
    meter (a settlement's: a budget's window is not read)."""
    return f"[{','.join(f'{m.head}{a}' for m, a in zip(meters, amounts, strict=True))}]"


def changes(done: Settlement) -> tuple[list[Meter], list[int]]:
    """The meters a settlement changes, with their amounts: every concurrency slot,
    and the token and budget meters when the real usage differs from the reservation
    (a request meter never changes once taken)."""
    meters = done.meters
    changed, amounts = list(meters.slots), [0] * len(meters.slots)
    if done.token_delta and meters.token_meters:
        changed += meters.token_meters
        amounts += [done.token_delta] * len(meters.token_meters)
    if done.cost_delta and meters.budgets:
        changed += meters.budgets
        amounts += [done.cost_delta] * len(meters.budgets)
    return changed, amounts


# A queued call: ADMISSION or SETTLEMENT, keys, args, the answer's future (None for a
# settlement: nobody waits for it), its undo.
_Call = tuple[
    str,
    Sequence[str],
    list[Any],
    "asyncio.Future[Any] | None",
    Callable[[Any], None] | None,
]


def _hash_tag(key: str) -> str:
    """The part of a key Redis Cluster places it by (its `{tag}`, else the key)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key


def script_calls(keys_of_calls: Sequence[Sequence[str]]) -> list[list[int]]:
    """Which calls of a batch (given by their keys) go in one script call: those whose
    keys sit in one Redis Cluster slot, by the hash tag of their first key (all of a
    call's keys share their organization's). In the order made, within each."""
    groups: dict[str, list[int]] = {}
    for index, keys in enumerate(keys_of_calls):
        groups.setdefault(_hash_tag(keys[0]) if keys else "", []).append(index)
    return list(groups.values())


# How long a settlement may wait for an admission to ride with (under load one comes
# within milliseconds; a lone settlement goes after this).
SETTLE_DELAY_SECONDS = 0.02
# How long a round trip may take in all (its connection has no socket timeout).
READ_TIMEOUT_SECONDS = 1.0


class _Batches:
    """The calls of one event loop, on one connection of its own, in the order made: one
    round trip at a time, carrying every call made meanwhile (under load, many
    admissions and settlements per round trip) as one script call per organization
    (SCRIPT; an organization's keys share a Redis Cluster hash tag). Settlements, which
    nobody waits for, ride with the next admissions, or go after SETTLE_DELAY_SECONDS.
    redis-py's pool and pipeline cost about as much CPU per round trip as the call
    itself, and each answer read costs about as much again: a connection of its own
    with one batch in flight, and one answer per organization, avoid both (decision
    record 0009). A script error (a key holding another type) fails its whole call:
    every request of that organization in the batch gets it, as Redis being down.
    """

    def __init__(self, connection: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.connection, self.loop = connection, loop
        self.shas: dict[str, bytes] = {}
        self.pending: list[_Call] = []
        self.running: asyncio.Task[None] | None = None
        self.scheduled: asyncio.Handle | None = None
        self.soon = False  # whether `scheduled` is this turn's (not a delayed) send

    def call(
        self,
        op: str,
        keys: Sequence[str],
        args: list[Any],
        undo: Callable[[Any], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue a call whose answer is waited for (an admission) for the next round
        trip. `undo` gets its answer if the caller stopped waiting for it (its future
        was cancelled)."""
        future = self.loop.create_future()
        self.pending.append((op, keys, args, future, undo))
        if self.running is None and not self.soon:
            if self.scheduled is not None:
                self.scheduled.cancel()
            self.scheduled, self.soon = self.loop.call_soon(self._start), True
        return future

    def send(self, op: str, keys: Sequence[str], args: list[Any]) -> None:
        """Queue a call nobody waits for (a settlement): it rides with the next round
        trip, which goes after SETTLE_DELAY_SECONDS at the latest. A failure is
        logged (the slots expire with their lease; the token charges are lost)."""
        self.pending.append((op, keys, args, None, None))
        if self.running is None and self.scheduled is None:
            self.scheduled = self.loop.call_later(SETTLE_DELAY_SECONDS, self._start)

    def _start(self) -> None:
        self.scheduled, self.soon = None, False
        if self.running is None and self.pending:
            self.running = self.loop.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                await self._execute(batch)
        finally:
            self.running = None

    async def _execute(self, batch: list[_Call]) -> None:
        try:
            results = await self._round_trip(batch)
            missing = [i for i, r in enumerate(results) if _no_script(r)]
            if missing:  # Redis restarted or flushed its scripts: load them, retry
                self.shas.clear()
                retried = await self._round_trip([batch[i] for i in missing])
                for i, result in zip(missing, retried, strict=True):
                    results[i] = result
        except BaseException as error:
            await self.connection.disconnect()  # its answers may be out of step now
            for *_call, future, _undo in batch:
                if future is None:
                    _settle_failed(error)
                elif not future.done():
                    future.set_exception(
                        error if isinstance(error, Exception) else ConnectionError()
                    )
            if not isinstance(error, Exception):
                raise
            return
        for (*_call, future, undo), result in zip(batch, results, strict=True):
            if future is None:
                if isinstance(result, Exception):
                    _settle_failed(result)
                continue
            if future.cancelled():
                if undo is not None and not isinstance(result, Exception):
                    undo(result)
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _round_trip(self, batch: list[_Call]) -> list[Any]:
        """Send the batch as one script call per hash tag (organization), in one
        round trip; return each call's answer (a group's error is each of its calls')."""
        groups = script_calls([call_keys for _op, call_keys, *_rest in batch])
        results: list[Any] = [None] * len(batch)
        # One deadline for the whole round trip: redis-py's own (socket_timeout) would
        # run each write in a task of its own (asyncio.wait_for) and arm and cancel a
        # timer per answer read (decision record 0009).
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                await self._send(batch, groups)
                for members in groups:
                    try:
                        answers = await self.connection.read_response(timeout=math.inf)
                    except ResponseError as error:  # this group's; the others stand
                        answers = [error] * len(members)
                    for index, answer in zip(members, answers, strict=True):
                        results[index] = answer
        except TimeoutError:
            raise RedisTimeout("Timeout reading the rate limits' answers") from None
        return results

    async def _send(self, batch: list[_Call], groups: list[list[int]]) -> None:
        """Write one EVALSHA per group (loading the script first if this connection
        has not yet)."""
        connection = self.connection
        if SCRIPT not in self.shas:
            await connection.send_command("SCRIPT", "LOAD", SCRIPT, check_health=False)
            self.shas[SCRIPT] = await connection.read_response(timeout=math.inf)
        commands = []
        for members in groups:
            keys: list[str] = []
            args: list[Any] = []
            for index in members:
                op, call_keys, call_args, _future, _undo = batch[index]
                keys += call_keys
                args += (op, len(call_keys), *call_args)
            commands.append(("EVALSHA", self.shas[SCRIPT], len(keys), *keys, *args))
        await connection.send_packed_command(
            connection.pack_commands(commands), check_health=False
        )

    async def drain(self) -> None:
        """Send what is queued now and wait until every answer has come."""
        if self.scheduled is not None:
            self.scheduled.cancel()
            self._start()
        elif self.pending and self.running is None:
            self._start()
        while self.running is not None:
            await asyncio.shield(self.running)


def _no_script(result: Any) -> bool:
    return isinstance(result, NoScriptError)


def _connection_class() -> type:
    """redis-py's asyncio connection, packing commands with hiredis (C) rather than in
    Python: a script call with its keys and arguments costs a third of the CPU to pack
    (docs/decisions/0009-rate-limit-calls.md; off with JANSERVER_BYPASSES_OFF=hiredis_pack).
    """
    import hiredis
    import redis.asyncio

    if "hiredis_pack" in settings.BYPASSES_OFF:
        return redis.asyncio.Connection

    class HiredisPacking(redis.asyncio.Connection):
        def pack_command(self, *args: Any) -> list[bytes]:
            first = args[0]
            if isinstance(first, str) and " " in first:  # "SCRIPT LOAD" and the like
                args = (*first.split(), *args[1:])
            return [hiredis.pack_command(args)]

    return HiredisPacking


class RedisStore:
    """The counters in Redis (every process and replica shares them)."""

    def __init__(self) -> None:
        self._batches: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[str, _Batches]
        ] = weakref.WeakKeyDictionary()

    def _batch(self) -> _Batches:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        held = self._batches.get(loop)
        if held is None or held[0] != settings.REDIS_URL:
            pool = redis.asyncio.ConnectionPool.from_url(
                settings.REDIS_URL,
                socket_connect_timeout=1,
                # No socket timeout: each round trip has one deadline (_round_trip).
                connection_class=_connection_class(),
            )
            connection = pool.make_connection()
            held = (settings.REDIS_URL, _Batches(connection, loop))
            self._batches[loop] = held
        return held[1]

    async def acquire(
        self,
        meters: MeterSet,
        slot: str,
        now_ms: int,
        tokens: int = 0,
        cost: int = 0,
        spent: dict[str, int] | None = None,
    ) -> Admitted | Refused:
        """Take every meter for a request of `tokens` tokens and `cost` nanodollars
        (a budget counter Redis does not hold starts from `spent`), or none."""
        lease_ms = settings.RATE_LIMIT_SLOT_LEASE_SECONDS * 1000
        # If the caller goes away meanwhile, whatever the call took is given back.
        answer = await self._batch().call(
            ADMISSION,
            meters.keys,
            [
                now_ms,
                slot,
                lease_ms,
                meters.admission(tokens, cost, spent),
                BUDGET_TTL_MS,
            ],
            undo=lambda taken: self._undo(
                taken, Settlement(meters, slot, -tokens, -cost)
            ),
        )
        if answer[0] == 0:
            retry = int(answer[3])
            meter = meters.meters[int(answer[1]) - 1]
            return Refused(meter, int(answer[2]), None if retry < 0 else retry)
        del answer[0]
        return Admitted(meters, answer)

    def _undo(self, answer: list[int], refund: Settlement) -> None:
        if answer[0]:
            self.settle(refund, int(time.time() * 1000))

    def settle(self, done: Settlement, now_ms: int) -> None:
        """Send a settlement with the next batch (nothing waits for it), if it
        changes anything."""
        meters, amounts = changes(done)
        if not meters:
            return
        self._batch().send(
            SETTLEMENT,
            [m.key for m in meters],
            [now_ms, done.slot, _spec(meters, amounts)],
        )

    async def drain(self) -> None:
        """Wait until every call made so far has been answered."""
        await self._batch().drain()


def _settle_failed(error: BaseException) -> None:
    # The slots expire with their lease; the token charges are lost.
    logger.warning("Could not settle a rate-limit ticket: %s", error)


class LocalStore:
    """The same counters in this process's memory (no REDIS_URL): the limits hold per
    process. Each call runs without awaiting, so it is atomic in the event loop."""

    def __init__(self) -> None:
        self._tats: dict[str, int] = {}
        self._slots: dict[str, dict[str, int]] = {}
        self._spent: dict[str, int] = {}

    async def acquire(
        self,
        meters: MeterSet,
        slot: str,
        now_ms: int,
        tokens: int = 0,
        cost: int = 0,
        spent: dict[str, int] | None = None,
    ) -> Admitted | Refused:
        new_tats: dict[str, int] = {}
        for meter in meters.meters:
            amount = cost_of(meter, tokens, cost)
            if meter.kind == Kind.CONCURRENT:
                slots = self._live_slots(meter.key, now_ms)
                if len(slots) + 1 > meter.limit:
                    return Refused(meter, len(slots), None)
                continue
            if meter.kind == Kind.BUDGET:
                so_far = self._spent.get(meter.key, (spent or {}).get(meter.key, 0))
                if so_far + amount > meter.limit:
                    return Refused(meter, so_far, None)
                new_tats[meter.key] = so_far + amount
                continue
            interval = meter.window_ms / meter.limit
            tat = max(new_tats.get(meter.key, self._tats.get(meter.key, 0)), now_ms)
            new_tat = math.ceil(tat + amount * interval)
            if new_tat - now_ms > meter.window_ms:
                used = math.ceil((tat - now_ms) / interval)
                return Refused(meter, used, new_tat - meter.window_ms - now_ms)
            new_tats[meter.key] = new_tat
        answer: list[int] = []
        lease_ms = settings.RATE_LIMIT_SLOT_LEASE_SECONDS * 1000
        for meter in meters.meters:
            if meter.kind == Kind.CONCURRENT:
                slots = self._slots.setdefault(meter.key, {})
                slots[slot] = now_ms + lease_ms
                answer += (meter.limit - len(slots), 0)
                continue
            if meter.kind == Kind.BUDGET:
                self._spent[meter.key] = new_tats[meter.key]
                answer += (meter.limit - new_tats[meter.key], 0)
                continue
            new_tat = self._tats[meter.key] = new_tats[meter.key]
            interval = meter.window_ms / meter.limit
            remaining = math.floor((meter.window_ms - (new_tat - now_ms)) / interval)
            answer += (remaining, new_tat - now_ms)
        return Admitted(meters, answer)

    def _live_slots(self, key: str, now_ms: int) -> dict[str, int]:
        slots = self._slots.get(key, {})
        for held, expires in list(slots.items()):
            if expires <= now_ms:
                del slots[held]
        return slots

    def settle(self, done: Settlement, now_ms: int) -> None:
        for meter, delta in zip(*changes(done), strict=True):
            if meter.kind == Kind.CONCURRENT:
                self._slots.get(meter.key, {}).pop(done.slot, None)
            elif meter.kind == Kind.BUDGET:
                if meter.key in self._spent:
                    self._spent[meter.key] = max(self._spent[meter.key] + delta, 0)
            elif delta:
                tat = max(self._tats.get(meter.key, 0), now_ms)
                new_tat = math.ceil(tat + delta * meter.window_ms / meter.limit)
                self._tats[meter.key] = max(new_tat, now_ms)

    async def drain(self) -> None:
        """Nothing is ever pending here."""
