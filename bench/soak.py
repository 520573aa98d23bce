"""Soak: mixed traffic against one production worker; RSS flat, no unexpected answer,
no secret in the log or the stored data.

    .venv/bin/python -m bench.soak [--duration 600] [--sqlite]
        [--database-url postgres://postgres@127.0.0.1:5432/janserver_soak]
        [--redis-url redis://127.0.0.1:6379/4] [--warm-up 60] [--window 60]
        [--rss-tolerance 0.05] [--keep DIR]

The gateway is the production server (gunicorn.conf.py: bootstrap at start, one
uvicorn worker, production settings, log level INFO) pinned to core 1, on a
PostgreSQL database that is dropped and created anew (default: janserver_soak on the
local server; `--sqlite`: a temporary SQLite file, no Redis) and the given Redis
database. Two fake vLLM servers (the shared provider "Jan", and an organization's
provider registered with an API key through the admin API) and this load generator
share core 0. For `--duration` seconds the clients of bench.soak_traffic run streamed
and non-streamed completions, conversations and their turns, Responses (streamed,
stored, background), admin calls, logins, bad credentials and bad requests.

It fails (exit status 1) when:
- any answer is not the one expected (a 5xx, an unexpected 4xx, a broken stream, a
  transport error);
- the worker's RSS drifts by more than `--rss-tolerance`: sampled every second, the
  median of the last `--window` seconds against the median of the first `--window`
  seconds after `--warm-up` (both shortened for runs too short for them);
- any of the run's secrets (every project and admin API key, whole or its random
  part, login access and refresh tokens, the provider's API key, DJANGO_SECRET_KEY,
  JWT_SECRET, APIKEY_SECRET, MODEL_PROVIDER_SECRET) occurs in a line the gateway
  wrote, in a row of any table of its database (after it stopped), or in any key or
  value of its Redis database;
- the log does not hold an access line for every request (the scan would be blind).
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.gateway import ROOT, manage, production_gateway
from bench.inference_bench import upstream
from bench.soak_scan import (
    Finding,
    Scanner,
    Secrets,
    dumped_rows,
    log_lines,
    redis_values,
)
from bench.soak_traffic import MODEL, PRIVATE_MODEL, Soak, Tally, run_traffic

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/janserver_soak"
REDIS_URL = "redis://127.0.0.1:6379/4"
OWNER = "soak-owner@example.com"
SETTINGS_SECRETS = (
    "DJANGO_SECRET_KEY",
    "JWT_SECRET",
    "APIKEY_SECRET",
    "MODEL_PROVIDER_SECRET",
)


@dataclass
class Options:
    duration: float = 600.0
    # PostgreSQL (created anew) or SQLite; None: a new SQLite file in the work folder.
    database_url: str | None = DATABASE_URL
    redis_url: str | None = REDIS_URL
    warm_up: float = 60.0
    window: float = 60.0
    rss_tolerance: float = 0.05
    # Serve bench.soak_probe: the worker's caches and object count every 30 s
    # (probe.jsonl), and with `tracemalloc` snapshots compared at the end.
    probe: bool = False
    tracemalloc: bool = False
    # JANSERVER_BYPASSES_OFF of the gateway (docs/decisions/).
    bypasses_off: tuple[str, ...] = ()
    # Called once the traffic ended, the gateway still up (the tests plant leaks).
    after_traffic: Callable[[Soak], Awaitable[None]] | None = None


@dataclass
class Rss:
    """The worker's RSS (MiB) sampled through the run: (seconds since start, MiB)."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    baseline: float = float("nan")  # median of the first window after the warm-up
    final: float = float("nan")  # median of the last window
    warm_up: float = 0.0
    window: float = 0.0

    @property
    def drift(self) -> float:
        return (self.final - self.baseline) / self.baseline

    def judge(self, duration: float, warm_up: float, window: float) -> None:
        """Set baseline and final: a warm-up and two windows, shortened for a short
        run (the warm-up to a quarter of it, each window to a quarter)."""
        self.warm_up = min(warm_up, duration / 4)
        self.window = min(window, duration / 4)
        first = [
            m for t, m in self.samples if self.warm_up <= t < self.warm_up + self.window
        ]
        last = [m for t, m in self.samples if t >= duration - self.window]
        if first and last:
            self.baseline, self.final = (
                statistics.median(first),
                statistics.median(last),
            )


@dataclass
class Report:
    engine: str
    duration: float
    tally: Tally
    rss: Rss
    secrets: int
    scanned: dict[str, int]
    findings: list[Finding]
    access_lines: int
    rss_tolerance: float
    memory_growth: list[str] = field(default_factory=list)

    @property
    def rss_ok(self) -> bool:
        return abs(self.rss.drift) <= self.rss_tolerance

    @property
    def log_complete(self) -> bool:
        return self.access_lines >= self.tally.total()

    @property
    def ok(self) -> bool:
        clean = not self.findings and self.tally.failures == 0
        return clean and self.rss_ok and self.log_complete


def rss_mib(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def sample_rss(pid: int, rss: Rss, started: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        rss.samples.append((time.monotonic() - started, rss_mib(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


@contextlib.contextmanager
def fresh_database(url: str | None, work: Path) -> Iterator[str]:
    """Yield the database URL to serve: `url`'s PostgreSQL database dropped and
    created anew (it stays after the run, for inspection), a SQLite `url` as it is,
    or a new SQLite file in `work`."""
    if url is None or url.startswith("sqlite:"):
        yield url or f"sqlite:///{work / 'soak.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield url


def setup(
    base_url: str, env: dict[str, str], private_url: str, secrets_: Secrets
) -> Soak:
    """The owner's admin key (manage.py), then through the admin API: the
    organization's provider with its API key, a project and its key."""
    created = json.loads(manage(env, "createapikey", "--kind", "admin", "--org", "default",
                                "--owner", OWNER, "--json"))  # fmt: skip
    admin_key = created["key"]
    provider_key = f"pk-{secrets.token_urlsafe(32)}"
    for name in SETTINGS_SECRETS:
        secrets_.add(name, env[name])
    secrets_.add("owner admin key", admin_key)
    secrets_.add("provider API key", provider_key)
    with httpx.Client(base_url=base_url, timeout=60,
                      headers={"Authorization": f"Bearer {admin_key}"}) as client:  # fmt: skip
        client.post("/v1/organization/models/providers", json={
            "name": "soak private", "base_url": private_url, "api_key": provider_key,
        }).raise_for_status()  # fmt: skip
        project = client.post("/v1/organization/projects", json={"name": "soak"})
        project.raise_for_status()
        made = client.post(f"/v1/organization/projects/{project.json()['id']}/api_keys",
                           json={"description": "soak"})  # fmt: skip
        made.raise_for_status()
    project_key = made.json()["result"]["key"]
    secrets_.add("soak project key", project_key)
    _wait_models(base_url, project_key)
    return Soak(base_url, admin_key, project_key, Tally(), secrets_)


def _wait_models(base_url: str, key: str) -> None:
    """Wait until the worker's catalog serves both models (it reloads on changes)."""
    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < deadline:
        listed = httpx.get(f"{base_url}/v1/models", headers=headers, timeout=10)
        ids = {model["id"] for model in listed.json().get("data", [])}
        if {MODEL, PRIVATE_MODEL} <= ids:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the models never showed up: {listed.text[:300]}")


async def load(soak: Soak, pid: int, options: Options, rss: Rss) -> None:
    stop, started = asyncio.Event(), time.monotonic()
    sampler = asyncio.create_task(sample_rss(pid, rss, started, stop))
    try:
        await run_traffic(soak, options.duration, options.after_traffic)
    finally:
        stop.set()
        await sampler


def run_soak(options: Options, work: Path) -> Report:
    """Run one soak with its files in `work`; return its report."""
    log_path, dump_path = work / "gateway.log", work / "rows.jsonl"
    # A kept folder of an earlier run: its files would be scanned and counted again.
    for old in (log_path, dump_path, *work.glob("probe/*")):
        old.unlink(missing_ok=True)
    found: Secrets = Secrets()
    rss = Rss()
    extra: dict[str, str] = {
        "JAN_INFERENCE_SETUP": "1",
        "ORGANIZATION_ADMIN_EMAILS": OWNER,
        "EGRESS_ALLOWED_RANGES": "127.0.0.0/8",
        "MODEL_PROVIDER_SECRET": secrets.token_urlsafe(48),
    }
    if options.redis_url:
        extra["REDIS_URL"] = options.redis_url
    if options.bypasses_off:
        extra["JANSERVER_BYPASSES_OFF"] = ",".join(options.bypasses_off)
    app = None
    if options.probe or options.tracemalloc:
        (work / "probe").mkdir(exist_ok=True)
        extra["SOAK_PROBE_DIR"] = str(work / "probe")
        extra["SOAK_PROBE_TRACEMALLOC"] = "1" if options.tracemalloc else "0"
        app = "bench.soak_probe:application"
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_database(options.database_url, work))
        jan_url = stack.enter_context(upstream(core=0, models=(MODEL,)))
        private_url = stack.enter_context(upstream(core=0, models=(PRIVATE_MODEL,)))
        extra["JAN_INFERENCE_MODEL_URL"] = jan_url
        server = production_gateway(1, database_url, log_path, ROOT, app, **extra)
        with server as (base_url, env, pid):
            soak = setup(base_url, env, private_url, found)
            asyncio.run(load(soak, pid, options, rss))
        # The gateway has stopped: its batched writes are flushed, its log complete.
        manage(env, "shell", "-c",
               f"from bench.soak_scan import dump_tables; dump_tables({str(dump_path)!r})")  # fmt: skip
    rss.judge(options.duration, options.warm_up, options.window)
    report = scan_report(options, soak, rss, log_path, dump_path)
    if options.tracemalloc:
        report.memory_growth = traced_growth(work / "probe", rss.warm_up)
    if options.probe or options.tracemalloc:
        report.memory_growth[:0] = probed(work / "probe" / "probe.jsonl")
    return report


def probed(path: Path) -> list[str]:
    """The probe's lines (bench.soak_probe), one per sample."""
    if not path.exists():
        return [f"probe: no samples in {path}"]
    return ["probe: " + line.strip() for line in path.read_text().splitlines()]


def traced_growth(folder: Path, warm_up: float) -> list[str]:
    """What the traced memory grew with, from the first snapshot after the warm-up
    to the last one (bench.soak_probe)."""
    snapshots = sorted(folder.glob("*.tracemalloc"))
    after_warm_up = [s for s in snapshots if int(s.name.split(".")[0]) >= warm_up]
    if len(after_warm_up) < 2:
        return [f"tracemalloc: too few snapshots in {folder} for a comparison"]
    return growth(after_warm_up[0], after_warm_up[-1])


def scan_report(
    options: Options, soak: Soak, rss: Rss, log_path: Path, dump_path: Path
) -> Report:
    scanner = Scanner(soak.secrets)
    scanned: dict[str, int] = {}
    findings: list[Finding] = []
    sources = {"log lines": log_lines(log_path), "rows": dumped_rows(dump_path)}
    if options.redis_url:
        sources["redis values"] = redis_values(options.redis_url)
    for name, texts in sources.items():
        counted = _counting(texts, scanned, name)
        findings += scanner.scan(counted)
    access = sum(
        1 for _where, line in log_lines(log_path) if '"janserver.access"' in line
    )
    return Report(
        engine="PostgreSQL + Redis" if options.redis_url else
        ("SQLite" if (options.database_url or "sqlite:").startswith("sqlite:") else "PostgreSQL"),
        duration=options.duration, tally=soak.tally, rss=rss, secrets=len(soak.secrets),
        scanned=scanned, findings=findings, access_lines=access,
        rss_tolerance=options.rss_tolerance,
    )  # fmt: skip


def _counting(
    texts: Iterable[tuple[str, str]], counts: dict[str, int], name: str
) -> Iterator[tuple[str, str]]:
    """Pass `texts` through, counting them in counts[name]."""
    counts[name] = 0
    for item in texts:
        counts[name] += 1
        yield item


def growth(first: Path, last: Path, top: int = 15) -> list[str]:
    """The `top` tracebacks whose memory grew most from snapshot `first` to `last`,
    with the total growth first."""
    before = tracemalloc.Snapshot.load(str(first))
    after = tracemalloc.Snapshot.load(str(last))
    filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(filters), after.filter_traces(filters)
    stats = after.compare_to(before, "traceback")
    total = sum(stat.size_diff for stat in stats)
    lines = [
        f"traced Python memory {total / 2**20:+.2f} MiB from {first.name} to {last.name}"
    ]
    for stat in stats[:top]:
        lines.append(
            f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks"
        )
        lines.extend(f"      {frame}" for frame in stat.traceback.format()[-12:])
    return lines


def print_report(report: Report) -> None:
    tally, rss = report.tally, report.rss
    print(
        f"soak: {report.duration:g} s on {report.engine}, one gunicorn/uvicorn worker"
    )
    kinds = sorted({kind for kind, _ in tally.counts})
    for kind in kinds:
        statuses = ", ".join(f"{status}: {count}" for (k, status), count
                             in sorted(tally.counts.items()) if k == kind and count)  # fmt: skip
        print(f"  {kind:<16} {statuses}")
    print(f"  requests {tally.total()}, unexpected {tally.failures}")
    for sample in tally.samples:
        print(f"    unexpected: {sample}")
    values = [mib for _t, mib in rss.samples]
    if values:
        print(f"RSS MiB: start {values[0]:.1f}, end {values[-1]:.1f}, min {min(values):.1f}, "
              f"max {max(values):.1f} ({len(values)} samples); median of "
              f"[{rss.warm_up:g} s, {rss.warm_up + rss.window:g} s) {rss.baseline:.1f}, of the "
              f"last {rss.window:g} s {rss.final:.1f}: drift {rss.drift:+.2%} "
              f"(tolerance ±{report.rss_tolerance:.0%}) {'ok' if report.rss_ok else 'FAILED'}")  # fmt: skip
    scanned = ", ".join(f"{count} {name}" for name, count in report.scanned.items())
    print(f"scan: {report.secrets} secrets in {scanned}: {len(report.findings)} found")
    for finding in report.findings[:20]:
        print(f"    {finding.label} in {finding.where}: {finding.excerpt}")
    for line in report.memory_growth:
        print(line)
    print(f"log: {report.access_lines} access lines for {tally.total()} requests "
          f"{'ok' if report.log_complete else 'INCOMPLETE'}")  # fmt: skip
    print("PASSED" if report.ok else "FAILED")


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration", type=float, default=600.0, help="seconds of traffic"
    )
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, no Redis")
    parser.add_argument("--database-url", default=DATABASE_URL,
                        help="PostgreSQL database to drop, create and serve")  # fmt: skip
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--warm-up", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--rss-tolerance", type=float, default=0.05)
    parser.add_argument("--keep", type=Path, help="keep the log and the row dump here")
    parser.add_argument(
        "--bypass-off",
        action="append",
        default=[],
        metavar="NAME",
        help="switch off one of the gateway's bypasses (JANSERVER_BYPASSES_OFF)",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="sample the worker's caches and object count every 30 s",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace the worker's Python memory; print what it grew with",
    )
    args = parser.parse_args()
    options = Options(
        duration=args.duration,
        database_url=None if args.sqlite else args.database_url,
        redis_url=None if args.sqlite else args.redis_url,
        warm_up=args.warm_up, window=args.window, rss_tolerance=args.rss_tolerance,
        probe=args.probe, tracemalloc=args.tracemalloc,
        bypasses_off=tuple(args.bypass_off),
    )  # fmt: skip
    os.sched_setaffinity(0, {0})
    # Stopped early (SIGTERM, or SIGINT, which a shell ignores in background jobs):
    # leave through the context managers, which stop the servers this run started.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    with contextlib.ExitStack() as stack:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        report = run_soak(options, work)
    print_report(report)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
