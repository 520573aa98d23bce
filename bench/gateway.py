"""Start a janserver gateway for benchmarks: a fresh SQLite database, one pinned worker."""

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gateway_env(database_url: str, root: Path = ROOT, **extra: str) -> dict[str, str]:
    """The environment of a gateway serving the checkout at `root` (its PYTHONPATH)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE=extra.pop(
            "DJANGO_SETTINGS_MODULE", "janserver.settings"
        ),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SECRET=secrets.token_urlsafe(64),
        APIKEY_SECRET=secrets.token_urlsafe(48),
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(root),
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run manage.py of the checkout `env` serves (see gateway_env)."""
    root = Path(env["PYTHONPATH"])
    result = subprocess.run(
        [sys.executable, str(root / "manage.py"), *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@contextmanager
def gateway(
    core: int, database_url: str | None = None, root: Path = ROOT, **extra: str
) -> Iterator[tuple[str, dict[str, str], int]]:
    """Yield (base_url, env, pid) of a migrated gateway: one uvicorn worker on `core`,
    on `database_url` (a new SQLite file when not given), serving the checkout at
    `root` (this one by default; another commit's worktree for an A/B run)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        env = gateway_env(url, root, **extra)
        manage(env, "migrate", "--no-input")
        port = free_port()
        command = [
            "taskset", "-c", str(core), sys.executable, "-m", "uvicorn", "janserver.asgi:application",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--loop", "uvloop", "--http", "httptools",
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base_url)
            yield base_url, env, process.pid
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_ready(base_url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthcheck", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("gateway did not start")


def project_key(env: dict[str, str]) -> str:
    created = json.loads(
        manage(
            env,
            "createapikey",
            "--kind",
            "project",
            "--org",
            "default",
            "--owner",
            "bench@example.com",
            "--json",
        )
    )
    return created["key"]
