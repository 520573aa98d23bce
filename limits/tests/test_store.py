"""The counters' two stores behave alike: Redis (every process) and memory (one).

Times are given explicitly (now_ms), so nothing here depends on the clock.
"""

import asyncio
import os
import secrets
from types import SimpleNamespace

import pytest
import redis

from limits.rules import DAY_MS, MINUTE_MS, Kind, Meter, row_meters
from limits.store import (
    LocalStore,
    MeterSet,
    RedisStore,
    Refused,
    Settlement,
    changes,
    script_calls,
)

REDIS_URL = "redis://127.0.0.1:6379/1"
T0 = 1_800_000_000_000


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["memory", "redis"])
def store(request, settings):
    if request.param == "memory":
        return LocalStore()
    if not _redis_up():
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_URL
    return RedisStore()


def meter(kind: str, limit: int, window_ms: int = MINUTE_MS) -> Meter:
    key = f"janserver:rl:test:{secrets.token_hex(6)}:{kind}"
    return Meter(key, kind, limit, window_ms, "project", "proj_x", "", kind)


def take(store, meters, tokens, now, slot="s"):
    """Take `meters` for a request of `tokens` tokens (a request or a slot costs 1)."""
    return asyncio.run(store.acquire(MeterSet(meters), slot, now, tokens))


def settle(store, meters, slot, delta, now):
    async def send() -> None:
        store.settle(Settlement(MeterSet(meters), slot, delta), now)
        await store.drain()

    asyncio.run(send())


def test_a_request_rate_admits_its_limit_then_refuses_until_it_refills(store):
    rpm = meter(Kind.REQUESTS, 3)
    taken = [take(store, [rpm], 1, T0) for _ in range(3)]
    assert [t[0].remaining for t in taken] == [2, 1, 0]
    refused = take(store, [rpm], 1, T0)
    assert isinstance(refused, Refused)
    assert (refused.meter, refused.used) == (rpm, 3)
    assert refused.retry_after_ms == 20_000  # one request refills in 60 s / 3
    assert isinstance(take(store, [rpm], 1, T0 + 19_999), Refused)
    assert take(store, [rpm], 1, T0 + 20_000)[0].remaining == 0
    # A full window later the bucket is full again.
    assert take(store, [rpm], 1, T0 + 20_000 + MINUTE_MS)[0].remaining == 2


def test_the_reset_is_when_the_bucket_is_full_again(store):
    rpd = meter(Kind.REQUESTS, 10, DAY_MS)
    (taken,) = take(store, [rpd], 1, T0)
    assert taken.reset_ms == DAY_MS // 10
    assert taken.remaining == 9


def test_tokens_are_reserved_and_settled_with_what_was_used(store):
    tpm = meter(Kind.TOKENS, 1000)
    assert take(store, [tpm], 800, T0)[0].remaining == 200
    assert isinstance(take(store, [tpm], 300, T0), Refused)
    settle(store, [tpm], "s", -500, T0)  # used 300 of the 800 reserved
    assert take(store, [tpm], 300, T0)[0].remaining == 400
    settle(store, [tpm], "s", +400, T0)  # used more than reserved: charged
    refused = take(store, [tpm], 1, T0)
    assert isinstance(refused, Refused)
    assert refused.used == 1000


def test_a_request_takes_every_meter_or_none(store):
    rpm, tpm = meter(Kind.REQUESTS, 10), meter(Kind.TOKENS, 100)
    assert isinstance(take(store, [rpm, tpm], 150, T0), Refused)
    # The refused request took nothing from the request limit.
    assert take(store, [rpm, tpm], 100, T0)[0].remaining == 9


def test_concurrency_slots_are_released_or_expire_with_their_lease(store, settings):
    settings.RATE_LIMIT_SLOT_LEASE_SECONDS = 60
    concurrent = meter(Kind.CONCURRENT, 2)
    take(store, [concurrent], 1, T0, slot="a")
    take(store, [concurrent], 1, T0, slot="b")
    refused = take(store, [concurrent], 1, T0, slot="c")
    assert isinstance(refused, Refused)
    assert (refused.used, refused.retry_after_ms) == (2, None)
    settle(store, [concurrent], "a", 0, T0)
    assert take(store, [concurrent], 1, T0, slot="c")[0].remaining == 0
    # "b" and "c" were never released (a killed process): their lease runs out.
    assert isinstance(take(store, [concurrent], 1, T0 + 59_999, slot="d"), Refused)
    assert take(store, [concurrent], 1, T0 + 60_000, slot="d")[0].remaining == 1


def test_calls_made_together_go_in_one_batch_in_order(store):
    """Concurrent requests: exactly the limit passes, whichever store."""
    rpm = meter(Kind.REQUESTS, 5)

    async def burst():
        return await asyncio.gather(
            *(store.acquire(MeterSet([rpm]), f"s{i}", T0, 1) for i in range(8))
        )

    results = asyncio.run(burst())
    assert [isinstance(r, Refused) for r in results] == [False] * 5 + [True] * 3
    assert [r[0].remaining for r in results[:5]] == [4, 3, 2, 1, 0]


def test_a_request_cancelled_while_waiting_gives_back_what_it_took(store):
    if isinstance(store, LocalStore):
        pytest.skip("memory answers without waiting: nothing to cancel meanwhile")
    rpm, tpm = meter(Kind.REQUESTS, 100), meter(Kind.TOKENS, 100)
    concurrent = meter(Kind.CONCURRENT, 1)

    async def cancelled_then_next():
        task = asyncio.ensure_future(
            store.acquire(MeterSet([rpm, tpm, concurrent]), "gone", T0, 60)
        )
        await asyncio.sleep(0)  # its call is made (queued for the batch)
        task.cancel()
        await store.drain()
        await asyncio.sleep(0)
        await store.drain()
        return await store.acquire(MeterSet([rpm, tpm, concurrent]), "next", T0, 100)

    taken = asyncio.run(cancelled_then_next())
    assert not isinstance(taken, Refused)  # the slot and the 60 tokens came back


def test_refunds_never_leave_credit_beyond_a_full_bucket(store):
    rpm = meter(Kind.TOKENS, 100)
    take(store, [rpm], 10, T0)
    settle(store, [rpm], "s", -1000, T0)
    assert take(store, [rpm], 100, T0)[0].remaining == 0
    assert isinstance(take(store, [rpm], 1, T0), Refused)


def _tagged(kind: str, limit: int, organization: str) -> Meter:
    """A meter keyed as production keys are: under its organization's hash tag."""
    key = f"janserver:rl:test:{secrets.token_hex(6)}{{o{organization}}}:{kind}"
    return Meter(key, kind, limit, MINUTE_MS, "project", "proj_x", "", kind)


def test_two_organizations_calls_made_together_are_each_answered(store):
    """One batch, two hash tags (two script calls in Redis Cluster terms)."""
    first, second = _tagged(Kind.REQUESTS, 2, "1"), _tagged(Kind.REQUESTS, 3, "2")

    async def burst():
        return await asyncio.gather(
            *(store.acquire(MeterSet([first]), f"a{i}", T0, 1) for i in range(3)),
            *(store.acquire(MeterSet([second]), f"b{i}", T0, 1) for i in range(4)),
        )

    results = asyncio.run(burst())
    refused = [isinstance(r, Refused) for r in results]
    assert refused == [False, False, True, False, False, False, True]
    assert [r[0].remaining for r in results[:2]] == [1, 0]
    assert [r[0].remaining for r in results[3:6]] == [2, 1, 0]


def test_a_settlement_between_two_admissions_of_a_batch_comes_in_between(store):
    """The calls of a batch run in the order made: the slot freed by the settlement
    is free for the admission made after it."""
    slots = _tagged(Kind.CONCURRENT, 1, "7")
    assert not isinstance(take(store, [slots], 1, T0, slot="held"), Refused)

    async def settle_then_acquire():
        store.settle(Settlement(MeterSet([slots]), "held", 0), T0)
        return await store.acquire(MeterSet([slots]), "after", T0, 1)

    async def together():
        # Both tasks make their calls in the same turn of the event loop.
        return await asyncio.gather(
            store.acquire(MeterSet([slots]), "before", T0, 1), settle_then_acquire()
        )

    before, after = asyncio.run(together())
    assert isinstance(before, Refused)
    assert not isinstance(after, Refused)


def test_a_redis_that_lost_its_scripts_gets_them_again(store):
    if isinstance(store, LocalStore):
        pytest.skip("no scripts in memory")
    rpm = meter(Kind.REQUESTS, 5)
    assert take(store, [rpm], 1, T0)[0].remaining == 4
    redis.Redis.from_url(REDIS_URL).script_flush()  # as a restarted Redis
    assert take(store, [rpm], 1, T0)[0].remaining == 3


_FORKED_SLOTS = """
import os, django
django.setup()
from limits.admission import new_slot
read, write = os.pipe()
pid = os.fork()
if pid == 0:  # the child: report its first slot id, then leave at once
    os.write(write, new_slot().encode())
    os._exit(0)
os.close(write)
os.waitpid(pid, 0)
print(os.read(read, 64).decode(), new_slot())
"""


def test_slot_ids_differ_in_a_forked_worker():
    """Two workers forked from one preloaded process never share a slot's id (a
    process of its own: forking pytest's threads could deadlock)."""
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "janserver.settings_test"}
    out = subprocess.run(
        [sys.executable, "-c", _FORKED_SLOTS],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=60,
    ).stdout.split()
    child, parent = out
    assert child != parent
    assert child[:12] != parent[:12]  # not the same prefix with another count


def test_a_batch_goes_as_one_script_call_per_organization():
    """Redis Cluster runs a script only on keys of one slot: an organization's keys
    share its hash tag (limits.rules), so each organization's calls go together."""
    first = ["rl:{o1}:project:1::rpm", "rl:{o1}:api_key:4::rpm"]
    second = ["rl:{o2}:project:2::rpm"]
    untagged = ["rl:{}:x", "rl:{}:y"]  # an empty tag: the whole key places it
    batch = [first, second, first, untagged[:1], second, untagged[1:]]
    assert script_calls(batch) == [[0, 2], [1, 4], [3], [5]]


def test_a_settlement_carries_only_the_meters_it_changes():
    """Every request sends its settlement's keys: a request meter never changes once
    taken, a token or budget meter only when the usage differs from the reservation."""
    rpm, tpm, slots = (meter(Kind.REQUESTS, 9), meter(Kind.TOKENS, 9),
                       meter(Kind.CONCURRENT, 9))  # fmt: skip
    budget = meter(Kind.BUDGET, 9)
    every = MeterSet([rpm, tpm, slots, budget])
    assert changes(Settlement(every, "s", -5, 7)) == ([slots, tpm, budget], [0, -5, 7])
    assert changes(Settlement(every, "s", 0, 0)) == ([slots], [0])
    assert changes(Settlement(MeterSet([rpm, tpm]), "s", 0, 0)) == ([], [])


def test_a_settlement_that_changes_nothing_sends_nothing(store):
    rpm, tpm = meter(Kind.REQUESTS, 1), meter(Kind.TOKENS, 100)
    take(store, [rpm, tpm], 50, T0)

    async def settled() -> None:
        store.settle(Settlement(MeterSet([rpm, tpm]), "s", 0), T0)
        if isinstance(store, RedisStore):
            assert store._batch().pending == []
        await store.drain()

    asyncio.run(settled())
    assert isinstance(take(store, [rpm], 1, T0), Refused)  # the request still counts
    assert take(store, [tpm], 50, T0)[0].remaining == 0  # its 50 tokens too


def test_a_counters_key_names_its_organization_scope_model_and_limit(settings):
    row = SimpleNamespace(
        organization_id=3,
        model="jan-v1-4b",
        max_requests_per_1_minute=1,
        max_tokens_per_1_minute=None,
        max_requests_per_1_day=None,
        max_concurrent_requests=2,
    )
    keys = [m.key for m in row_meters(row, "api_key", 12, "key_x")]
    assert all(key.startswith(settings.RATE_LIMIT_KEY_PREFIX) for key in keys)
    assert len(keys) == 2
    assert keys[0].endswith(":{o3}:k12:jan-v1-4b:rpm")
    assert keys[1].endswith(":{o3}:k12:jan-v1-4b:cc")


def test_a_settlement_that_fails_is_logged(store, caplog):
    """Nobody waits for a settlement: its failure (here a key holding another type,
    as after a key clash) is logged; the slot would expire with its lease."""
    if isinstance(store, LocalStore):
        pytest.skip("memory settles without failing")
    slots = meter(Kind.CONCURRENT, 2)
    assert not isinstance(take(store, [slots], 1, T0), Refused)
    redis.Redis.from_url(REDIS_URL).set(slots.key, "not a set")
    with caplog.at_level("WARNING", logger="janserver.limits"):
        settle(store, [slots], "s", 0, T0)
    assert "Could not settle a rate-limit ticket" in caplog.text
    assert "WRONGTYPE" in caplog.text
