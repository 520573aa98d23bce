"""Plain async Django views (janserver's OpenAI endpoints) vs async DRF views (adrf).

    .venv/bin/python -m bench.view_bench [--seconds 5] [--concurrency 32] [--rounds 5]

One gateway worker on core 1 (bench.adrf_views: janserver plus an adrf twin of
GET /v1/models doing the same work), this load generator on core 0. Each round
measures GET /v1/models and GET /bench/adrf/models with a warm project key, back to
back, the order swapped every round; the median ratio of their rates is reported
(docs/decisions/0008-plain-async-views.md).
"""

import argparse
import asyncio
import os
import statistics

from bench.gateway import gateway, project_key
from bench.loadgen import LoadResult, run_load


def report(name: str, result: LoadResult) -> None:
    print(f"  {name:<22} {result.rate:8.0f} req/s  errors {result.errors:<4} "
          f"generator CPU {result.cpu_share:4.0%}")  # fmt: skip


async def measure(base_url: str, secret: str, args: argparse.Namespace) -> list[float]:
    auth = {"Authorization": f"Bearer {secret}"}
    urls = {"plain async view": f"{base_url}/v1/models",
            "adrf APIView": f"{base_url}/bench/adrf/models"}  # fmt: skip
    for url in urls.values():  # warm
        await run_load(url, seconds=1, concurrency=args.concurrency, headers=auth)
    ratios = []
    for number in range(1, args.rounds + 1):
        results = {}
        names = list(urls) if number % 2 else list(urls)[::-1]
        for name in names:
            results[name] = await run_load(
                urls[name], seconds=args.seconds, concurrency=args.concurrency,
                headers=auth,
            )  # fmt: skip
        print(f"round {number}")
        for name in urls:
            report(name, results[name])
        ratios.append(results["plain async view"].rate / results["adrf APIView"].rate)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    with gateway(core=1, DJANGO_SETTINGS_MODULE="bench.adrf_views.settings") as (
        base_url,
        env,
        _pid,
    ):
        ratios = asyncio.run(measure(base_url, project_key(env), args))
    print(f"plain async view / adrf APIView: median {statistics.median(ratios):.2f}x "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
