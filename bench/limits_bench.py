"""The rate limits' Redis calls, three ways, in one run: CPU per admission in this
process (what a gateway worker pays), 64 admissions at a time.

    .venv/bin/python -m bench.limits_bench [--rounds 5] [--admissions 3200]
                                           [--redis redis://127.0.0.1:6379/15]

- `script`: redis-py's Script object, one call per admission (its EVALSHA with the
  NOSCRIPT fallback);
- `evalsha`: one plain EVALSHA per admission;
- `batched`: limits.store.RedisStore: the calls of one turn of the event loop in one
  pipeline, commands packed by hiredis (what the gateway does), plus the settlement of
  each admission;
- `batched-py`: the same with redis-py's own command packing, in Python
  (JANSERVER_BYPASSES_OFF=hiredis_pack).

Each admission takes six meters (a key's and a project's requests, tokens and day
limits), as a request with limits on both scopes does. Keys live under
`janserver:rl:bench:` in the given Redis database and expire within a minute.
"""

import argparse
import asyncio
import os
import statistics
import time

import uvloop

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janserver.settings_test")


def _meters():
    from limits.rules import DAY_MS, MINUTE_MS, Kind, Meter

    kinds = [
        (Kind.REQUESTS, MINUTE_MS),
        (Kind.TOKENS, MINUTE_MS),
        (Kind.REQUESTS, DAY_MS),
    ]
    return [
        Meter(
            f"janserver:rl:bench:{{o1}}:{scope}:{i}",
            kind,
            10**12,
            window,
            scope,
            "x",
            "",
            kind,
        )
        for scope in ("api_key", "project")
        for i, (kind, window) in enumerate(kinds)
    ]


async def measure(way: str, admissions: int, redis_url: str) -> float:
    import redis.asyncio

    from limits.store import ADMISSION, SCRIPT, RedisStore, Settlement, _spec

    meters = _meters()
    keys = [m.key for m in meters]
    client = redis.asyncio.Redis.from_url(redis_url)
    script = client.register_script(SCRIPT)
    sha = await client.script_load(SCRIPT)
    from django.conf import settings

    settings.BYPASSES_OFF = frozenset({"hiredis_pack"} if way == "batched-py" else ())
    store = RedisStore()

    async def admit(i: int) -> None:
        now = int(time.time() * 1000)
        spec = _spec(meters, [1] * len(meters))
        # One admission alone in the store's script call.
        args: list[int | str] = [ADMISSION, len(keys), now, f"s{i}", 60_000, spec, 0]
        if way == "script":
            await script(keys=keys, args=args)
        elif way == "evalsha":
            await client.evalsha(sha, len(keys), *keys, *args)
        else:
            await store.acquire(meters, [1] * len(meters), f"s{i}", now)
            store.settle(Settlement(tuple(meters), f"s{i}", 0), now)

    await admit(-1)
    start = time.process_time()
    for first in range(0, admissions, 64):
        await asyncio.gather(*(admit(i) for i in range(first, first + 64)))
    await store.drain()
    cpu = time.process_time() - start
    await client.aclose()
    return cpu / admissions * 1e6


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
    results: dict[str, list[float]] = {
        "script": [],
        "evalsha": [],
        "batched": [],
        "batched-py": [],
    }
    for _ in range(args.rounds):
        for way in results:
            results[way].append(uvloop.run(measure(way, args.admissions, args.redis)))
    for way, figures in results.items():
        print(f"{way:<8} CPU per admission: median {statistics.median(figures):6.1f} µs "
              f"(rounds: {', '.join(f'{f:.0f}' for f in figures)})")  # fmt: skip


if __name__ == "__main__":
    main()
