"""The rate limits' Redis calls, three ways, in one run: CPU per admission in this
process (what a gateway worker pays) and in Redis's scripts (what the shared Redis
pays), 64 admissions at a time.

    .venv/bin/python -m bench.limits_bench [--rounds 5] [--admissions 3200]
                                           [--redis redis://127.0.0.1:6379/15]

- `script`: redis-py's Script object, one call per admission and one per its
  settlement (its EVALSHA with the NOSCRIPT fallback);
- `evalsha`: the same with plain EVALSHA calls;
- `batched`: limits.store.RedisStore: the calls of one turn of the event loop in one
  round trip, commands packed by hiredis (what the gateway does), admissions and
  settlements together;
- `batched-py`: the same with redis-py's own command packing, in Python
  (JANSERVER_BYPASSES_OFF=hiredis_pack).

Each admission takes the seven meters of the gateway benchmark's limited key (a key's
requests, tokens, day and concurrency limits, its project's requests, tokens and day
limits for the model), as `inference_bench --limited` does, and is settled with the
tokens it used (which also frees its concurrency slot). The keys live in the given Redis database (under
RATE_LIMIT_KEY_PREFIX, organization 1) and expire within a day.
"""

import argparse
import asyncio
import os
import statistics
import time

import uvloop

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janserver.settings_test")


def _meters():
    """The meters of the gateway benchmark's limited key (`inference_bench --limited`):
    the key's requests, tokens, day and concurrency limits for every model, and its
    project's requests, tokens and day limits for one model."""
    from types import SimpleNamespace

    from limits.rules import row_meters

    huge = 10**12
    key = SimpleNamespace(
        organization_id=1,
        model="",
        max_requests_per_1_minute=huge,
        max_tokens_per_1_minute=huge,
        max_requests_per_1_day=huge,
        max_concurrent_requests=100_000,
    )
    project = SimpleNamespace(
        **{**vars(key), "model": "jan-v1-4b", "max_concurrent_requests": None}
    )
    return [
        *row_meters(key, "api_key", 1, "key_x"),
        *row_meters(project, "project", 1, "proj_x"),
    ]


# A request's token reservation (its prompt and max_tokens) and what it used.
RESERVED, USED = 1000, 80


async def _script_usec(client) -> int:
    """Microseconds Redis has spent running EVALSHA calls since its stats were reset."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("usec", 0))


async def measure(way: str, admissions: int, redis_url: str) -> tuple[float, float]:
    """CPU per admission in this process, and in Redis's script calls (EVALSHA; the
    Redis server must not be running other scripts meanwhile)."""
    import redis.asyncio

    from limits.store import (
        ADMISSION,
        SCRIPT,
        SETTLEMENT,
        MeterSet,
        RedisStore,
        Settlement,
        _spec,
        changes,
    )

    meters = MeterSet(_meters())
    keys = list(meters.keys)
    client = redis.asyncio.Redis.from_url(redis_url)
    script = client.register_script(SCRIPT)
    sha = await client.script_load(SCRIPT)
    from django.conf import settings

    settings.BYPASSES_OFF = frozenset({"hiredis_pack"} if way == "batched-py" else ())
    store = RedisStore()

    async def admit(i: int) -> None:
        now = int(time.time() * 1000)
        spec = meters.admission(RESERVED)
        done = Settlement(meters, f"s{i}", USED - RESERVED)
        if way == "batched" or way == "batched-py":
            await store.acquire(meters, f"s{i}", now, RESERVED)
            store.settle(done, now)
            return
        # An admission, then its settlement, each alone in a call of the script.
        args: list[int | str] = [ADMISSION, len(keys), now, f"s{i}", 60_000, spec, 0]
        changed, amounts = changes(done)
        back = [m.key for m in changed]
        settle: list[int | str] = [SETTLEMENT, len(back), now, done.slot]
        settle.append(_spec(changed, amounts))
        if way == "script":
            await script(keys=keys, args=args)
            await script(keys=back, args=settle)
        else:
            await client.evalsha(sha, len(keys), *keys, *args)
            await client.evalsha(sha, len(back), *back, *settle)

    await admit(-1)
    await store.drain()
    scripts = await _script_usec(client)
    start = time.process_time()
    for first in range(0, admissions, 64):
        await asyncio.gather(*(admit(i) for i in range(first, first + 64)))
    await store.drain()
    cpu = time.process_time() - start
    scripts = await _script_usec(client) - scripts
    await client.aclose()
    return cpu / admissions * 1e6, scripts / admissions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--admissions", type=int, default=3200)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    import django
    from django.conf import settings

    django.setup()
    settings.REDIS_URL = args.redis
    results: dict[str, list[tuple[float, float]]] = {
        "script": [],
        "evalsha": [],
        "batched": [],
        "batched-py": [],
    }
    for _ in range(args.rounds):
        for way in results:
            results[way].append(uvloop.run(measure(way, args.admissions, args.redis)))
    for way, measured in results.items():
        figures = [cpu for cpu, _redis in measured]
        in_redis = statistics.median(redis for _cpu, redis in measured)
        print(f"{way:<8} CPU per admission: median {statistics.median(figures):6.1f} µs, "
              f"in Redis's scripts {in_redis:5.1f} µs "
              f"(rounds: {', '.join(f'{f:.0f}' for f in figures)})")  # fmt: skip


if __name__ == "__main__":
    main()
