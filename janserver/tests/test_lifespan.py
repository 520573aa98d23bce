"""The ASGI lifespan: a normal shutdown (SIGTERM) writes everything batched in memory."""

import asyncio
import logging
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import OperationalError

from inference import upstream, usage
from inference.models import UsageRecord
from janserver import auth
from janserver.lifespan import LifespanApp
from janserver.tests.live_server import (
    free_port,
    running_server,
    server_env,
    uvicorn_command,
)


@pytest.fixture(autouse=True)
def fresh_queue():
    usage.reset_for_tests()
    yield
    usage.reset_for_tests()


def entry(index: int) -> usage.UsageEntry:
    return usage.UsageEntry(
        request_id=f"req_{index}", endpoint="chat.completions", model="m", status="ok"
    )


async def run_lifespan(*phases: str) -> list[dict]:
    """Send the given lifespan events to LifespanApp; return what it answered."""
    inbox: asyncio.Queue = asyncio.Queue()
    sent: list[dict] = []
    for phase in phases:
        inbox.put_nowait({"type": f"lifespan.{phase}"})

    async def send(message):
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await asyncio.wait_for(LifespanApp()(scope, inbox.get, send), timeout=10)
    return sent


@pytest.fixture
def shutdown_calls(monkeypatch):
    """Record the calls to the key-usage flush and the upstream client's close."""
    calls: list[str] = []
    monkeypatch.setattr(auth, "flush_key_usage", lambda: calls.append("keys"))

    async def aclose():
        calls.append("upstream")

    monkeypatch.setattr(upstream, "aclose", aclose)
    return calls


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_shutdown_writes_usage_and_key_usage_then_closes_upstream(shutdown_calls):
    """startup is acknowledged and starts the flusher; shutdown flushes and closes."""
    sent = await run_lifespan("startup", "shutdown")
    assert sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert shutdown_calls == ["keys", "upstream"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_shutdown_flushes_records_queued_just_before(shutdown_calls):
    for index in range(30):
        usage.record(entry(index))
    assert usage._flusher is not None
    sent = await run_lifespan("startup", "shutdown")
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert await UsageRecord.objects.acount() == 30
    assert usage._flusher is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_a_failing_step_fails_shutdown_but_the_others_still_run(
    monkeypatch, shutdown_calls, caplog
):
    """The upstream close fails: usage is still written, and shutdown reports the failure."""

    async def broken_close():
        raise RuntimeError("boom")

    monkeypatch.setattr(upstream, "aclose", broken_close)
    usage.record(entry(1))
    with caplog.at_level(logging.ERROR, logger="janserver.lifespan"):
        sent = await run_lifespan("startup", "shutdown")
    assert sent[-1] == {
        "type": "lifespan.shutdown.failed",
        "message": "Shutdown incomplete: upstream client",
    }
    assert shutdown_calls == ["keys"]
    assert await UsageRecord.objects.acount() == 1
    assert "Shutdown step failed: upstream client" in caplog.text


async def test_records_the_database_refuses_at_shutdown_go_to_the_log(
    monkeypatch, shutdown_calls, caplog
):
    """With the database down, each unwritten record is logged and shutdown fails."""

    def down(batch):
        raise OperationalError("connection refused")

    monkeypatch.setattr(usage, "_insert", down)
    usage.record(entry(1))
    usage.record(entry(2))
    with caplog.at_level(logging.ERROR):
        sent = await run_lifespan("startup", "shutdown")
    assert sent[-1] == {
        "type": "lifespan.shutdown.failed",
        "message": "Shutdown incomplete: 2 usage records not written (logged instead)",
    }
    logged = [r.usage["request_id"] for r in caplog.records if hasattr(r, "usage")]
    assert logged == ["req_1", "req_2"]
    assert usage.pending_count() == 0


# Real servers: SIGTERM, then the rows must be in the database file.


def usage_server_env(database, **extra: str) -> dict[str, str]:
    env = server_env(f"sqlite:///{database}", **extra)
    env["DJANGO_SETTINGS_MODULE"] = "inference.tests.settings_usage_server"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def count_rows(database) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT COUNT(*) FROM inference_usagerecord"
        ).fetchone()[0]


def send_traffic(base_url: str) -> int:
    """Record usage through async and sync views, concurrently; return how many entries."""
    urls = [f"{base_url}/test/usage?n=25"] * 16 + [f"{base_url}/test/usage-sync"] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda url: httpx.get(url, timeout=10).status_code, urls)
        )
    assert statuses == [200] * len(urls)
    return 16 * 25 + 8


@pytest.mark.server
def test_sigterm_to_uvicorn_writes_usage_recorded_just_before(
    tmp_path, migrated_sqlite
):
    """The periodic flush is out of reach; every record arrives through the shutdown flush."""
    database = migrated_sqlite
    log_path = tmp_path / "server.log"
    port = free_port()
    command = uvicorn_command(port)
    with running_server(
        command, usage_server_env(database), port, log_path
    ) as base_url:
        expected = send_traffic(base_url)
        assert count_rows(database) == 0
    assert count_rows(database) == expected
    log = log_path.read_text()
    assert "Application shutdown complete." in log
    assert "Shutdown incomplete" not in log


@pytest.mark.server
def test_sigterm_to_gunicorn_writes_usage_and_serves_multiprocess_metrics(
    tmp_path, migrated_sqlite
):
    """gunicorn -c gunicorn.conf.py: the worker flushes on SIGTERM; /metrics sums files."""
    database = migrated_sqlite
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = usage_server_env(
        database,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_GRACEFUL_TIMEOUT="10",
        TMPDIR=str(temp),
    )
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    log_path = tmp_path / "server.log"
    with running_server(command, env, port, log_path) as base_url:
        expected = send_traffic(base_url)
        scrape = httpx.get(f"{base_url}/metrics")
        assert scrape.status_code == 200
        assert (
            'janserver_requests_total{route="chat.completions",status="200"} 16.0'
            in (scrape.text)
        )
        assert "python_gc_objects_collected_total" not in scrape.text  # multiprocess
        [metrics_dir] = temp.glob("janserver-prometheus-*")
        assert list(metrics_dir.glob("*.db"))
        assert count_rows(database) == 0
    assert count_rows(database) == expected
    assert list(temp.iterdir()) == []
    assert "Shutdown incomplete" not in log_path.read_text()
