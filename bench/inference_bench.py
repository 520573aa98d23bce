"""Inference relay benchmark: the gateway against the direct fake vLLM upstream.

    .venv/bin/python -m bench.inference_bench [--scenario all|streams|saturation|json|single|memory]
                                              [--seconds 10] [--rounds 3] [--memory-minutes 10]
                                              [--baseline PATH] [--arrivals together|spread]

The gateway is one uvicorn worker pinned to core 1; the fake upstream and this load
generator share core 0. Each scenario is measured in the same run for the gateway and
for the upstream directly, alternating, and the median of the rounds is reported, with
the load generator's CPU share (a saturated generator makes a round meaningless).
`--baseline PATH` also starts a gateway serving another checkout (a worktree of an
older commit: `git worktree add /tmp/base <commit>`), measured in every round right
after this one, so that both are compared side by side under the same conditions.
`--bypass-off NAME` (repeatable) does the same with this checkout and one of its
bypasses of Django's defaults switched off (JANSERVER_BYPASSES_OFF, docs/decisions/).
`--limited` also starts a gateway of this checkout whose key and project have rate
limits (every kind, too high to be hit: the cost of checking them), and gives every
gateway the same Redis, so that both sides differ only in the limits; with
`--baseline`, the other checkout is measured limited too (`baseline-limited`, against
`baseline`). That Redis is a redis-server of the benchmark's own, pinned to core 0
with the upstream and the generator: in production Redis runs on a machine of its
own, and left to float here it takes the gateway's core for its scripts (its CPU is
then charged to the limited gateway's throughput). `--redis URL` uses another Redis
instead (e.g. the shared one, unpinned).
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis
import uvloop

from bench.gateway import ROOT, free_port, gateway, manage, project_key

MODEL = "jan-v1-4b"


@dataclass
class Run:
    requests: int = 0
    errors: int = 0
    events: int = 0
    ttfb: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0  # CPU seconds of the gateway process (0 for the upstream)

    def pct(self, q: float) -> float:
        if not self.ttfb:
            return float("nan")
        ordered = sorted(self.ttfb)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def event_rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.seconds

    @property
    def server_cpu_us(self) -> float:
        """The gateway's CPU per request: robust to other load on its core."""
        return self.server_cpu / max(self.requests, 1) * 1e6


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(stream: bool, tokens: int, delay_ms: float) -> bytes:
    payload = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "stream": stream,
        "fake": {"tokens": tokens, "delay_ms": delay_ms},
    }
    return json.dumps(payload).encode()


async def one(
    session: aiohttp.ClientSession, url: str, data: bytes, headers: dict, run: Run
) -> None:
    started = time.perf_counter()
    async with session.post(url, data=data, headers=headers) as response:
        if response.status != 200:
            run.errors += 1
            await response.read()
            return
        first = True
        async for chunk in response.content.iter_any():
            if first:
                run.ttfb.append(time.perf_counter() - started)
                first = False
            run.events += chunk.count(b"data: {")
    run.requests += 1


async def load(
    url: str,
    data: bytes,
    headers: dict,
    concurrency: int,
    seconds: float,
    pid: int | None = None,
    spread: float = 0.0,
) -> Run:
    """`concurrency` clients, each sending requests one after another until `seconds`
    passed; with `spread`, client i sends its first one i/concurrency of `spread`
    seconds late (arrivals spread over a stream's length, not all at once)."""
    if not url.startswith("http://127.0.0.1"):
        raise ValueError("load is only ever sent to 127.0.0.1")
    run = Run()
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession, index: int) -> None:
        await asyncio.sleep(index * spread / concurrency)
        while time.monotonic() < deadline:
            try:
                await one(session, url, data, headers, run)
            except aiohttp.ClientError:
                run.errors += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started, cpu = time.monotonic(), time.process_time()
        server_cpu = process_cpu(pid) if pid else 0.0
        await asyncio.gather(*(worker(session, i) for i in range(concurrency)))
        run.seconds, run.cpu = time.monotonic() - started, time.process_time() - cpu
        run.server_cpu = process_cpu(pid) - server_cpu if pid else 0.0
    return run


@contextmanager
def private_redis(core: int):
    """A redis-server of this run's own on `core`, keeping nothing on disk."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        command = ["taskset", "-c", str(core), "redis-server", "--port", str(port),
                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", folder]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            for _ in range(100):
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("redis-server did not start")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def upstream(core: int, models: tuple[str, ...] = (MODEL,)):
    port = free_port()
    command = ["taskset", "-c", str(core), sys.executable, "-m", "inference.testing.fake_vllm",
               "--port", str(port), "--models", *models]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        if process.stdout is not None:
            process.stdout.readline()  # "fake vLLM serving … at …" once listening
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def register(env: dict[str, str], base_url: str) -> None:
    code = (
        "from inference.models import Provider, ProviderModel\n"
        f"p = Provider.objects.create(name='Jan', base_url={base_url!r})\n"
        f"ProviderModel.objects.create(provider=p, model_id={MODEL!r}, context_length=32768)\n"
    )
    manage(env, "shell", "-c", code)


def limit_everything(env: dict[str, str]) -> None:
    """Rate limits of every kind on the key and its project, too high to be hit."""
    [key] = json.loads(manage(env, "listapikeys", "--json"))
    huge = ["--rpm", "100000000", "--tpm", "10000000000", "--rpd", "1000000000"]
    manage(env, "ratelimit", "set", "--key", key["id"], *huge, "--concurrent", "100000")
    manage(
        env, "ratelimit", "set", "--project", key["project"], "--model", MODEL, *huge
    )


def line(
    name: str, direct: Run, relayed: Run, extra: str = "", tag: str = "gateway"
) -> None:
    print(f"  {name:<10} direct {direct.rate:8.1f} req/s {direct.event_rate:9.0f} ev/s | "
          f"{tag} {relayed.rate:8.1f} req/s {relayed.event_rate:9.0f} ev/s | "
          f"errors {direct.errors}/{relayed.errors} | generator CPU {relayed.cpu_share:4.0%} | "
          f"{tag} CPU {relayed.server_cpu_us:5.0f} µs/req {extra}")  # fmt: skip


def versus(name: str, rounds: list[list[Run]]) -> None:
    """Each other variant against this checkout's gateway, round by round (the same
    conditions): the median ratio of throughputs and of CPU per request."""
    for index, tag in enumerate(TAGS[1:], start=2):
        # A limited gateway against the same checkout without limits.
        of = tag.removesuffix("-limited") if tag.endswith("-limited") else "gateway"
        ref = TAGS.index(of) + 1
        rate = statistics.median(r[index].rate / r[ref].rate for r in rounds)
        cpu = statistics.median(
            r[index].server_cpu_us / max(r[ref].server_cpu_us, 1e-9) for r in rounds
        )
        print(f"{name}: {tag} vs {TAGS[ref - 1]}: throughput {rate:.1%}, "
              f"CPU per request {cpu:.1%} (medians of per-round ratios)")  # fmt: skip


# What a round measures: (url, headers, pid) of the direct upstream (pid None), then of
# each gateway (this one first, then the other variants, named in TAGS).
Targets = list[tuple[str, dict, int | None]]
TAGS: list[str] = ["gateway"]


# A pause between two sides of a round: the one measured before has finished its
# background work (usage rows flushed) before the next one's load starts.
SETTLE_SECONDS = 0.5


async def compare(
    targets: Targets,
    data: bytes,
    concurrency: int,
    seconds: float,
    spread: float = 0.0,
    turn: int = 0,
) -> list[Run]:
    """One round: the direct upstream, then each gateway, starting with the `turn`-th
    (each round starts with the next, so that no side is always measured after the
    same one); the runs in the order of `targets`."""
    runs: list[Run | None] = [None] * len(targets)
    gateways = list(range(1, len(targets)))
    shift = turn % max(len(gateways), 1)
    for index in [0, *gateways[shift:], *gateways[:shift]]:
        url, headers, pid = targets[index]
        await asyncio.sleep(SETTLE_SECONDS)
        runs[index] = await load(url, data, headers, concurrency, seconds, pid, spread)
    return [run for run in runs if run is not None]


WARM_UP_SECONDS = 3.0


async def measured(
    args: argparse.Namespace,
    targets: Targets,
    data: bytes,
    concurrency: int,
    spread: float = 0.0,
) -> list[list[Run]]:
    """`args.rounds` comparisons, after an unmeasured warm-up of every side (connection
    pools filled, caches and code paths warm), as a server in service would be."""
    await compare(targets, data, concurrency, WARM_UP_SECONDS, spread)
    return [
        await compare(targets, data, concurrency, args.seconds, spread, turn)
        for turn in range(args.rounds)
    ]


def sides(rounds: list[list[Run]]) -> list[tuple[str, list[tuple[Run, Run]]]]:
    """Each gateway's (direct, gateway) pairs, in TAGS order."""
    return [
        (tag, [(runs[0], runs[index]) for runs in rounds])
        for index, tag in enumerate(TAGS, start=1)
    ]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for row in status:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return float("nan")


async def scenarios(args: argparse.Namespace, targets: Targets) -> None:
    chosen = args.scenario
    med = statistics.median
    if chosen in ("all", "streams"):
        # "together": the 256 clients start at once, so their streams, all of one
        # length, end and start again in waves of 256 requests every ~0.65 s; "spread":
        # their first requests are spread over one stream's length (64 tokens x 10 ms).
        spread = 0.64 if args.arrivals == "spread" else 0.0
        print(f"streams: arrivals {args.arrivals}")
        rounds = await measured(args, targets, body(True, 64, 10), 256, spread)
        for tag, pairs in sides(rounds):
            for d, r in pairs:
                line("streams", d, r, f"TTFT p50 {d.pct(0.5):.1f} → {r.pct(0.5):.1f}, "
                     f"p99 {d.pct(0.99):.1f} → {r.pct(0.99):.1f} ms", tag)  # fmt: skip
            ratio = med(r.event_rate / d.event_rate for d, r in pairs)
            added99 = med(r.pct(0.99) - d.pct(0.99) for d, r in pairs)
            print(f"{tag}: many live streams: token rate {ratio:.1%} of direct (≥ 95%), "
                  f"added TTFT p99 {added99:.1f} ms (≤ 50)")  # fmt: skip
    if chosen in ("all", "saturation"):
        rounds = await measured(args, targets, body(True, 64, 0), 64)
        for tag, pairs in sides(rounds):
            for d, r in pairs:
                line("saturate", d, r, tag=tag)
            rate = med(r.rate for _, r in pairs)
            cpu = med(r.server_cpu_us for _, r in pairs)
            print(f"{tag}: saturation: {rate:.0f} streams/s (≥ 400), "
                  f"gateway CPU {cpu:.0f} µs per stream")  # fmt: skip
        versus("saturation", rounds)
    if chosen in ("all", "json"):
        rounds = await measured(args, targets, body(False, 64, 0), 64)
        for tag, pairs in sides(rounds):
            for d, r in pairs:
                line("json", d, r, tag=tag)
            cpu = med(r.server_cpu_us for _, r in pairs)
            print(
                f"{tag}: non-streaming: {med(r.rate for _, r in pairs):.0f} req/s (≥ 1000), "
                f"gateway CPU {cpu:.0f} µs per request"
            )
        versus("non-streaming", rounds)
    if chosen in ("all", "single"):
        rounds = await measured(args, targets, body(True, 16, 0), 1)
        for tag, pairs in sides(rounds):
            p50 = med(r.pct(0.5) - d.pct(0.5) for d, r in pairs)
            p99 = med(r.pct(0.99) - d.pct(0.99) for d, r in pairs)
            print(f"{tag}: single client: added TTFT p50 {p50:.2f} ms (≤ 1.5), "
                  f"p99 {p99:.2f} ms (≤ 4)")  # fmt: skip


async def memory(args: argparse.Namespace, url: str, headers: dict, pid: int) -> None:
    data = body(True, 100_000, 20)  # streams that stay open for the whole run
    samples = []
    task = asyncio.ensure_future(
        load(url, data, headers, 256, args.memory_minutes * 60)
    )
    await asyncio.sleep(10)
    end = time.monotonic() + args.memory_minutes * 60 - 15
    while time.monotonic() < end:
        samples.append(rss_mb(pid))
        await asyncio.sleep(5)
    task.cancel()
    first, last = samples[0], samples[-1]
    print(f"memory: 256 open streams, RSS {first:.0f} MB → {last:.0f} MB over {args.memory_minutes} min "
          f"(≤ 150 MB, growth {last / first - 1:+.1%}, ≤ 5%)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="all",
                        choices=["all", "streams", "saturation", "json", "single", "memory"])  # fmt: skip
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-minutes", type=float, default=10.0)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout to measure side by side with this one")  # fmt: skip
    parser.add_argument("--bypass-off", action="append", default=[],
                        help="also measure this checkout with this bypass switched off")  # fmt: skip
    parser.add_argument("--arrivals", default="together", choices=["together", "spread"],
                        help="streams: whether the clients start at once or spread")  # fmt: skip
    parser.add_argument("--limited", action="store_true",
                        help="also measure this checkout with rate limits on its key")  # fmt: skip
    parser.add_argument("--redis", default=None,
                        help="with --limited: this Redis, not one of the run's own on core 0")  # fmt: skip
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    # The generator shares its core with the upstream: the faster loop leaves it more.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with contextlib.ExitStack() as stack:
        upstream_url = stack.enter_context(upstream(core=0))
        targets: Targets = [(f"{upstream_url}/chat/completions", {}, None)]
        variants: list[tuple[str, Path, dict[str, str]]] = [("gateway", ROOT, {})]
        if args.baseline is not None:
            variants.append(("baseline", args.baseline.resolve(), {}))
        for name in args.bypass_off:
            variants.append((f"no-{name}", ROOT, {"JANSERVER_BYPASSES_OFF": name}))
        if args.limited:
            redis_url = args.redis or stack.enter_context(private_redis(core=0))
            variants = [
                (tag, root, {**env, "REDIS_URL": redis_url})
                for tag, root, env in variants
            ]
            variants.append(("limited", ROOT, {"REDIS_URL": redis_url}))
            if args.baseline is not None:
                base = args.baseline.resolve()
                variants.append(("baseline-limited", base, {"REDIS_URL": redis_url}))
        TAGS[:] = [tag for tag, _root, _env in variants]
        pid = 0
        for _tag, root, extra in variants:
            gateway_url, env, pid_of = stack.enter_context(
                gateway(core=1, root=root, **extra)
            )
            pid = pid or pid_of
            register(env, upstream_url)
            headers = {
                "Authorization": f"Bearer {project_key(env)}",
                "Content-Type": "application/json",
            }
            if _tag.endswith("limited"):
                limit_everything(env)
            targets.append((f"{gateway_url}/v1/chat/completions", headers, pid_of))
        if args.scenario == "memory":
            asyncio.run(memory(args, targets[1][0], targets[1][1], pid))
        else:
            asyncio.run(scenarios(args, targets))


if __name__ == "__main__":
    main()
