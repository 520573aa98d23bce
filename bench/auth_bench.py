"""Authenticated vs unauthenticated requests per second, one gateway worker on one core.

    .venv/bin/python -m bench.auth_bench [--seconds 5] [--concurrency 32] [--rounds 3]

The gateway (one uvicorn worker) runs on core 1, this load generator on core 0. Each
round measures GET /v1/version (no credential) and GET /v1/models with a warm project
key; the figure is the median ratio of the two rates (the target is >= 0.9).
"""

import argparse
import asyncio
import os
import statistics

from bench.gateway import gateway, project_key
from bench.loadgen import LoadResult, run_load


def report(name: str, result: LoadResult) -> None:
    print(
        f"  {name:<28} {result.rate:8.0f} req/s  errors {result.errors:<4} generator CPU {result.cpu_share:4.0%}"
    )


async def measure(base_url: str, secret: str, args: argparse.Namespace) -> list[float]:
    auth = {"Authorization": f"Bearer {secret}"}
    await run_load(
        f"{base_url}/v1/models", seconds=1, concurrency=args.concurrency, headers=auth
    )  # warm
    ratios = []
    for round_ in range(1, args.rounds + 1):
        plain = await run_load(
            f"{base_url}/v1/version", seconds=args.seconds, concurrency=args.concurrency
        )
        keyed = await run_load(
            f"{base_url}/v1/models",
            seconds=args.seconds,
            concurrency=args.concurrency,
            headers=auth,
        )
        print(f"round {round_}")
        report("unauthenticated /v1/version", plain)
        report("project key /v1/models", keyed)
        ratios.append(keyed.rate / plain.rate)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    with gateway(core=1) as (base_url, env, _pid):
        ratios = asyncio.run(measure(base_url, project_key(env), args))
    print(
        f"authenticated / unauthenticated: median {statistics.median(ratios):.3f} (rounds {', '.join(f'{r:.3f}' for r in ratios)})"
    )


if __name__ == "__main__":
    main()
