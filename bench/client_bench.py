"""The relay's HTTP client: aiohttp (inference/upstream.py) vs httpx, reading streams.

    .venv/bin/python -m bench.client_bench [--seconds 4] [--rounds 5] [--concurrency 64]

The fake vLLM upstream runs on core 0; this process, on core 1, streams chat
completions of 64 tokens from it with each client in turn (the order swapped every
round), reading every chunk as the relay does, and reports streams per second and
this process's CPU per stream (docs/decisions/0004-aiohttp-on-the-relay.md).
"""

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
import httpx
import uvloop

from bench.inference_bench import MODEL, upstream

BODY = json.dumps(
    {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "fake": {"tokens": 64, "delay_ms": 0},
    }
).encode()
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


async def with_aiohttp(url: str, concurrency: int, deadline: float) -> int:
    done = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with session.post(url, data=BODY, headers=HEADERS) as response:
                    while await response.content.readany():
                        pass
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def with_httpx(url: str, concurrency: int, deadline: float) -> int:
    done = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with client.stream(
                    "POST", url, content=BODY, headers=HEADERS
                ) as response:
                    async for _chunk in response.aiter_raw():
                        pass
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


Client = Callable[[str, int, float], Awaitable[int]]


async def measure(url: str, args: argparse.Namespace) -> None:
    clients: dict[str, Client] = {"aiohttp": with_aiohttp, "httpx": with_httpx}
    for client in clients.values():  # warm up
        await client(url, args.concurrency, time.monotonic() + 1)
    per_stream: dict[str, list[float]] = {name: [] for name in clients}
    for number in range(1, args.rounds + 1):
        names = list(clients) if number % 2 else list(clients)[::-1]
        print(f"round {number}")
        for name in names:
            cpu, started = time.process_time(), time.monotonic()
            streams = await clients[name](url, args.concurrency, started + args.seconds)
            cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
            per_stream[name].append(cpu * 1000 / streams)
            print(f"  {name:<8} {streams / elapsed:7.0f} streams/s  "
                  f"{cpu * 1000 / streams:.3f} ms CPU per stream")  # fmt: skip
    medians = {name: statistics.median(values) for name, values in per_stream.items()}
    print(f"CPU per stream, median: aiohttp {medians['aiohttp']:.3f} ms, "
          f"httpx {medians['httpx']:.3f} ms "
          f"(httpx / aiohttp {medians['httpx'] / medians['aiohttp']:.2f}x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with upstream(core=0) as upstream_url:
        asyncio.run(measure(f"{upstream_url}/chat/completions", args))


if __name__ == "__main__":
    main()
