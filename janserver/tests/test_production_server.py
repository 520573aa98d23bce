"""The production command end to end: `gunicorn -c gunicorn.conf.py` relaying a stream.

Production settings (DJANGO_DEBUG=0 with real secrets) over a migrated SQLite file, in
front of the fake vLLM registered with `manage.py addprovider`, reached with the
official openai SDK and a key from `manage.py createapikey`.
"""

import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from inference.testing.fake_vllm_logprobs import fake_text
from janserver.tests.live_server import ROOT, free_port
from janserver.worker import SHUTDOWN_RESERVE_SECONDS, shutdown_deadline

pytestmark = pytest.mark.server

MODEL = "jan-v1-4b"
TOKENS = 12
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def production_env(database: Path, port: int) -> dict[str, str]:
    """The environment of a production deployment, without anything of the test run's."""
    dropped = ("DJANGO_", "DATABASE_", "REDIS_", "JAN_", "GUNICORN_", "PYTEST")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        DJANGO_SETTINGS_MODULE="janserver.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SECRET=secrets.token_urlsafe(64),
        APIKEY_SECRET=secrets.token_urlsafe(48),
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{database}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        GUNICORN_GRACEFUL_TIMEOUT="5",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextmanager
def started(
    command: list[str], env: dict[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until `ready_url` answers 200; SIGTERM it when done."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while not _ready(ready_url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stream_chat(client: openai.OpenAI, **options) -> list:
    return list(
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
            extra_body={"fake": {"tokens": TOKENS}},
            **options,
        )
    )


def test_gunicorn_streams_a_chat_completion_and_stops_on_sigterm(
    tmp_path, migrated_sqlite
):
    """The production server relays a stream token by token, usage last when asked."""
    fake_port, port = free_port(), free_port()
    env = production_env(migrated_sqlite, port)
    fake = [sys.executable, "-m", "inference.testing.fake_vllm"]
    fake += ["--port", str(fake_port), "--models", MODEL]
    fake_url = f"http://127.0.0.1:{fake_port}"
    with started(fake, env, f"{fake_url}/health", tmp_path / "fake.log"):
        manage(env, "migrate", "--no-input")
        added = manage(env, "addprovider", "Jan", "--base-url", f"{fake_url}/v1")
        assert MODEL in added
        key = json.loads(
            manage(
                *(env, "createapikey", "--kind", "project", "--org", "default"),
                *("--owner", "prod@example.com", "--json"),
            )
        )["key"]
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "gunicorn.log"
        with started(gunicorn, env, f"{base}/healthcheck", log) as server:
            client = openai.OpenAI(
                base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30
            )
            with_usage = stream_chat(client, stream_options={"include_usage": True})
            without_usage = stream_chat(client)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=15) == 0, log.read_text()

    text = "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices)
    assert text == fake_text(TOKENS)
    assert sum(1 for c in with_usage if c.choices and c.choices[0].delta.content) > 1
    last = with_usage[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == TOKENS
    assert last.usage.total_tokens == last.usage.prompt_tokens + TOKENS
    assert all(c.usage is None for c in with_usage[:-1])

    assert all(c.usage is None for c in without_usage)
    assert without_usage[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in without_usage)
    assert text == fake_text(TOKENS)


def test_gunicorn_ends_a_stream_still_open_before_its_graceful_timeout(
    tmp_path, migrated_sqlite
):
    """A stream that would outlast gunicorn's graceful timeout: on SIGTERM the worker
    waits for it only until SHUTDOWN_RESERVE_SECONDS before gunicorn's deadline, then
    ends it, records its usage (as a disconnect) and completes its shutdown, so that
    gunicorn never has to kill it (which would lose the row)."""
    fake_port, port = free_port(), free_port()
    env = production_env(migrated_sqlite, port)
    env["GUNICORN_GRACEFUL_TIMEOUT"] = str(SHUTDOWN_RESERVE_SECONDS + 2)
    fake = [sys.executable, "-m", "inference.testing.fake_vllm"]
    fake += ["--port", str(fake_port), "--models", MODEL]
    fake_url = f"http://127.0.0.1:{fake_port}"
    with started(fake, env, f"{fake_url}/health", tmp_path / "fake.log"):
        manage(env, "migrate", "--no-input")
        manage(env, "addprovider", "Jan", "--base-url", f"{fake_url}/v1")
        key = json.loads(
            manage(
                *(env, "createapikey", "--kind", "project", "--org", "default"),
                *("--owner", "prod@example.com", "--json"),
            )
        )["key"]
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "gunicorn.log"
        body = {
            "model": MODEL,
            "messages": MESSAGES,
            "stream": True,
            "fake": {"tokens": 20_000, "delay_ms": 20},  # 400 s of tokens
        }
        headers = {"Authorization": f"Bearer {key}"}
        with started(gunicorn, env, f"{base}/healthcheck", log) as server:
            received, ended = 0, None
            with httpx.stream(
                "POST",
                f"{base}/v1/chat/completions",
                json=body,
                headers=headers,
                timeout=60,
            ) as response:
                request_id = response.headers["x-request-id"]
                lines = response.iter_lines()
                for line in lines:
                    received += line.startswith("data: ")
                    if received == 5:
                        break
                server.send_signal(signal.SIGTERM)
                try:
                    for line in lines:
                        received += line.startswith("data: ")
                except httpx.HTTPError as error:  # the body ends unfinished
                    ended = error
            assert server.wait(timeout=60) == 0, log.read_text()

    output = log.read_text()
    assert "Cancel 1 running task(s)" in output, output
    assert "Shutdown incomplete" not in output, output
    assert "SIGKILL" not in output, output
    assert "WORKER TIMEOUT" not in output, output
    assert ended is not None
    assert 5 <= received < 20_000
    with sqlite3.connect(migrated_sqlite) as database:
        rows = database.execute(
            "SELECT status, client_disconnected, completion_tokens "
            "FROM inference_usagerecord WHERE request_id = ?",
            (request_id,),
        ).fetchall()
    assert len(rows) == 1
    status, disconnected, tokens = rows[0]
    assert (status, disconnected) == ("disconnected", 1)
    assert tokens >= 4


def test_the_worker_leaves_the_lifespan_shutdown_its_time():
    from janserver.lifespan import BACKGROUND_DRAIN_SECONDS

    assert SHUTDOWN_RESERVE_SECONDS > BACKGROUND_DRAIN_SECONDS
    assert shutdown_deadline(120) == 120 - SHUTDOWN_RESERVE_SECONDS
    assert shutdown_deadline(5) == 1
