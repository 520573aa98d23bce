"""Conversation-aware streaming with `store: true` vs plain chat completions, in one run.

    .venv/bin/python -m bench.conv_bench [--seconds 2] [--rounds 15] [--concurrency 64]
                                         [--tokens 64] [--fresh] [--bypass-off NAME]
                                         [--chat-store]

The gateway is one uvicorn worker pinned to core 1; the fake upstream and this load
generator share core 0 (as in bench.inference_bench). Each round streams
POST /v1/conv/chat/completions with `store: true` (each client continues its own
conversation; `--fresh` starts a new one per request) and plain
POST /v1/chat/completions with the same upstream settings, alternating in short
slices (the order swapped every round); the median ratio of the rounds' streams/s is
reported (target >= 80 %) with the ratio of all rounds together, and the load
generator's CPU share (a saturated generator makes a round meaningless). The
database is a fresh PostgreSQL database on the server of DATABASE_URL when it is
set (dropped at the end), a temporary SQLite file otherwise.

`--bypass-off NAME` compares stored turns instead: conversation-aware streams on this
gateway and on a second one (its own database) with that bypass of Django's defaults
switched off (JANSERVER_BYPASSES_OFF, docs/decisions/), in the same alternating slices;
`--baseline PATH` likewise with a gateway serving another checkout (an older commit's
worktree).

`--chat-store` measures OpenAI's stored chat completions instead of conversation
turns: POST /v1/chat/completions with `store: true` against the same without it.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.gateway import ROOT, gateway, manage, project_key
from bench.inference_bench import MODEL, Run, register, upstream


@contextmanager
def database(tmp: Path) -> Iterator[str]:
    """Yield a DATABASE_URL: a new PostgreSQL database, or a SQLite file in `tmp`."""
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")):
        tmp.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{tmp / 'bench.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    base, _, _name = server.rpartition("/")
    name = f"janserver_convbench_{secrets.token_hex(4)}"
    admin = psycopg.connect(f"{base}/postgres", autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{base}/{name}"
    finally:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        admin.execute(drop.format(sql.Identifier(name)))
        admin.close()


def request_body(
    tokens: int, conversation: str | None, conv: bool, chat_store: bool = False
) -> bytes:
    payload: dict = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "stream": True,
        "fake": {"tokens": tokens, "delay_ms": 0},
    }
    if conv:
        payload["store"] = True
        if conversation and not chat_store:
            payload["conversation"] = conversation
    return json.dumps(payload).encode()


async def one(session, url, data, headers, run: Run) -> str | None:
    """Stream one request; return the conversation id of its first event, if any."""
    started, conversation, first, tail = time.perf_counter(), None, True, b""
    async with session.post(url, data=data, headers=headers) as response:
        if response.status != 200:
            run.errors += 1
            await response.read()
            return None
        async for chunk in response.content.iter_any():
            if first:
                run.ttfb.append(time.perf_counter() - started)
                first = False
                if chunk.startswith(b'data: {"conversation_id"'):
                    head = chunk.split(b"\n\n", 1)[0]
                    conversation = json.loads(head[6:])["conversation_id"]
            run.events += chunk.count(b"data: {")
            tail = (tail + chunk)[-16:]
        if not tail.endswith(b"data: [DONE]\n\n"):
            run.errors += 1
            return None
    run.requests += 1
    return conversation


async def load(
    url, headers, args, *, conv: bool, seconds: float, conversations: list | None = None
) -> Run:
    """Stream from `args.concurrency` clients for `seconds`. Client i continues the
    conversation `conversations[i]` (and leaves its latest there for the next call),
    unless `args.fresh`."""
    if not url.startswith("http://127.0.0.1"):
        raise ValueError("load is only ever sent to 127.0.0.1")
    run, deadline = Run(), time.monotonic() + seconds
    slots = conversations if conversations is not None else [None] * args.concurrency

    async def worker(session: aiohttp.ClientSession, slot: int) -> None:
        while time.monotonic() < deadline:
            continued = None if args.fresh else slots[slot]
            data = request_body(args.tokens, continued, conv, args.chat_store)
            try:
                slots[slot] = await one(session, url, data, headers, run) or continued
            except aiohttp.ClientError:
                run.errors += 1

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(worker(session, i) for i in range(args.concurrency)))
        run.seconds, run.cpu = time.monotonic() - started, time.process_time() - cpu
    return run


def process_cpu(pid: int) -> float:
    """CPU seconds used so far by process `pid` (user + system)."""
    return process_cpu_of(Path(f"/proc/{pid}/stat"))


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by process `pid`'s main thread (the event loop) and
    by its other threads together (database hops, asgiref's thread)."""
    used = {"event loop": 0.0, "other threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            seconds = process_cpu_of(task / "stat")
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        used["event loop" if task.name == str(pid) else "other threads"] += seconds
    return used


def process_cpu_of(stat: Path) -> float:
    """CPU seconds (user + system) in a /proc `stat` file, of a process or a thread."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(name: str, run: Run, gateway_cpu: float) -> None:
    print(f"  {name:<6} {run.rate:8.1f} streams/s  {run.event_rate:9.0f} ev/s  "
          f"TTFB p50 {run.pct(0.5):6.1f} ms  errors {run.errors:<4} "
          f"gateway {gateway_cpu / run.seconds:4.0%} CPU, {gateway_cpu * 1000 / max(run.requests, 1):.2f} ms/stream  "
          f"generator CPU {run.cpu_share:4.0%}")  # fmt: skip


@dataclass
class Side:
    """One of the two things a round compares: a route of a gateway."""

    label: str
    url: str
    conv: bool
    pid: int
    headers: dict
    conversations: list[str | None]  # one per client, kept across rounds
    requests: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    by_thread: dict[str, float] = field(default_factory=dict)


async def measure(sides: tuple[Side, Side], args: argparse.Namespace) -> None:
    for side in sides:  # warm up
        await load(side.url, side.headers, args, conv=side.conv, seconds=1,
                   conversations=side.conversations)  # fmt: skip
    ratios, stored = [], 0
    for number in range(1, args.rounds + 1):
        # The machine's speed drifts over seconds: short slices, back to back, the
        # order swapped every round, pair the two sides under the same conditions.
        runs, used = {}, {}
        for side in sides if number % 2 else sides[::-1]:
            before, threads_before = process_cpu(side.pid), threads_cpu(side.pid)
            runs[side.label] = run = await load(
                side.url, side.headers, args, conv=side.conv, seconds=args.seconds,
                conversations=side.conversations,
            )  # fmt: skip
            used[side.label] = process_cpu(side.pid) - before
            for kind, seconds in threads_cpu(side.pid).items():
                spent = seconds - threads_before.get(kind, 0.0)
                side.by_thread[kind] = side.by_thread.get(kind, 0.0) + spent
            side.requests += run.requests
            side.seconds += run.seconds
            side.cpu += used[side.label]
            stored += run.requests if side.conv else 0
        print(f"round {number}")
        for side in sides:
            report(side.label, runs[side.label], used[side.label])
        ratios.append(runs[sides[1].label].rate / runs[sides[0].label].rate)
    first, second = sides
    overall = (second.requests / second.seconds) / (first.requests / first.seconds)
    print(f"{second.label} / {first.label} streams/s: median {statistics.median(ratios):.1%} "
          f"(all rounds together {overall:.1%}; rounds "
          f"{', '.join(f'{r:.0%}' for r in ratios)}); {stored} measured turns stored")  # fmt: skip
    # With the worker saturated, throughput follows its CPU per stream: a steadier view.
    cpu = {side.label: side.cpu * 1000 / max(side.requests, 1) for side in sides}
    print(f"gateway CPU per stream, all rounds: {first.label} {cpu[first.label]:.3f} ms, "
          f"{second.label} {cpu[second.label]:.3f} ms "
          f"({first.label} / {second.label} {cpu[first.label] / cpu[second.label]:.1%})")  # fmt: skip
    for side in sides:
        parts = sorted(side.by_thread.items(), key=lambda kv: -kv[1])
        shares = ", ".join(
            f"{kind} {seconds * 1000 / max(side.requests, 1):.3f}"
            for kind, seconds in parts
            if seconds > 0
        )
        print(f"  {side.label} CPU ms per stream by thread: {shares}")


def stored_items(env: dict[str, str]) -> str:
    # A baseline checkout's database may have no stored completions table.
    code = (
        "from django.db import DatabaseError, transaction\n"
        "from conversations.models import Item, Conversation, StoredCompletion\n"
        "try:\n"
        "    with transaction.atomic():\n"
        "        kept = StoredCompletion.objects.count()\n"
        "except DatabaseError:\n"
        "    kept = 0\n"
        "print(Conversation.objects.count(), Item.objects.count(), kept)"
    )
    return manage(env, "shell", "-c", code).strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="per side, per round"
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument(
        "--fresh", action="store_true", help="a new conversation per request"
    )
    parser.add_argument(
        "--bypass-off",
        default=None,
        help="compare stored turns against a second gateway with this bypass off",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="compare stored turns against a gateway serving another checkout",
    )
    parser.add_argument(
        "--chat-store",
        action="store_true",
        help="stored chat completions (/v1/chat/completions, store: true) instead",
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        upstream_url = stack.enter_context(upstream(core=0))
        gateways: list[tuple[Path, dict[str, str]]] = [(ROOT, {})]
        if args.bypass_off is not None:
            gateways.append((ROOT, {"JANSERVER_BYPASSES_OFF": args.bypass_off}))
        elif args.baseline is not None:
            gateways.append((args.baseline.resolve(), {}))
        started = []
        for number, (root, extra) in enumerate(gateways):
            url = stack.enter_context(database(tmp / str(number)))
            gateway_url, env, pid = stack.enter_context(
                gateway(core=1, database_url=url, root=root, **extra)
            )
            register(env, upstream_url)
            headers = {
                "Authorization": f"Bearer {project_key(env)}",
                "Content-Type": "application/json",
            }
            started.append((gateway_url, env, pid, headers))
        engine = "PostgreSQL" if url.startswith("postgres") else "SQLite"
        print(f"{engine}, {args.concurrency} streams of {args.tokens} tokens, "
              f"{args.rounds} rounds of {args.seconds:g} s")  # fmt: skip

        def side(label: str, number: int, conv: bool) -> Side:
            base, _env, pid, headers = started[number]
            kept = conv and not args.chat_store
            route = "conv/chat/completions" if kept else "chat/completions"
            return Side(label, f"{base}/v1/{route}", conv, pid, headers,
                        [None] * args.concurrency)  # fmt: skip

        if args.bypass_off is not None:
            sides = (side("conv", 0, True), side(f"conv no-{args.bypass_off}", 1, True))
        elif args.baseline is not None:
            sides = (side("conv", 0, True), side("conv baseline", 1, True))
        else:
            sides = (side("plain", 0, False), side("conv", 0, True))
        asyncio.run(measure(sides, args))
        for _url, env, _pid, _headers in started:
            conversations, items, completions = stored_items(env).split()
            print(
                f"stored: {conversations} conversations, {items} items, "
                f"{completions} chat completions (warm-up included)"
            )


if __name__ == "__main__":
    main()
