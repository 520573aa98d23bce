"""A small closed-loop HTTP load generator (aiohttp) that reports its own CPU share.

Bounded in time, 127.0.0.1 only. Used by the benchmarks in this folder.
"""

import asyncio
import time
from dataclasses import dataclass

import aiohttp


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_share(self) -> float:
        """Fraction of one core the generator used (near 1.0 means it was the bottleneck)."""
        return self.cpu_seconds / self.seconds


async def _worker(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    deadline: float,
    counts: list[int],
) -> None:
    while time.monotonic() < deadline:
        async with session.get(url, headers=headers) as response:
            await response.read()
            counts[0 if response.status == 200 else 1] += 1


async def run_load(
    url: str, *, seconds: float, concurrency: int, headers: dict[str, str] | None = None
) -> LoadResult:
    """GET `url` from `concurrency` loops for `seconds`; count 200s and other answers."""
    if not url.startswith("http://127.0.0.1"):
        raise ValueError("load is only ever sent to 127.0.0.1")
    counts = [0, 0]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started, cpu_started = time.monotonic(), time.process_time()
        deadline = started + seconds
        await asyncio.gather(
            *(
                _worker(session, url, headers or {}, deadline, counts)
                for _ in range(concurrency)
            )
        )
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
    return LoadResult(
        requests=counts[0], errors=counts[1], seconds=elapsed, cpu_seconds=cpu
    )
