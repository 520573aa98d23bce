"""Start a janserver gateway for benchmarks: one pinned worker (uvicorn, or the production
server, gunicorn, with one worker), a fresh SQLite database unless given one."""

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
        DJANGO_SETTINGS_MODULE="janserver.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        JWT_SECRET=secrets.token_urlsafe(64),
        APIKEY_SECRET=secrets.token_urlsafe(48),
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(root),
    )
    env.update(extra)  # the caller's values win (a log level, REDIS_URL, ...)
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


@contextmanager
def production_gateway(
    core: int,
    database_url: str,
    log_path: Path,
    root: Path = ROOT,
    app: str | None = None,
    **extra: str,
) -> Iterator[tuple[str, dict[str, str], int]]:
    """Yield (base_url, env, worker_pid) of the production server (gunicorn with
    gunicorn.conf.py: `manage.py bootstrap` at start, one uvicorn worker) on `core`,
    serving `database_url` (migrated first). Everything it writes (stdout and stderr, at
    LOG_LEVEL, INFO unless given) goes to `log_path`. Without gunicorn's control
    socket, whose one path per user would be shared by concurrent runs. `app` serves
    another ASGI application than gunicorn.conf.py's (a probe wrapping it)."""
    port = free_port()
    env = gateway_env(
        database_url,
        root,
        **{"LOG_LEVEL": "INFO", "GUNICORN_GRACEFUL_TIMEOUT": "20"}
        | extra
        | {"GUNICORN_WORKERS": "1", "GUNICORN_BIND": f"127.0.0.1:{port}"},
    )
    manage(env, "migrate", "--no-input")
    command = ["taskset", "-c", str(core), sys.executable, "-m", "gunicorn",
               "-c", str(root / "gunicorn.conf.py"), "--no-control-socket"]  # fmt: skip
    if app is not None:
        command.append(app)
    with open(log_path, "ab") as log:
        master = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, master)
        yield base_url, env, _only_child(master.pid)
    finally:
        master.terminate()  # gunicorn stops its worker gracefully, streams finished
        try:
            master.wait(timeout=60)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()


def _only_child(pid: int) -> int:
    """The one worker process of gunicorn master `pid`."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if len(children) != 1:
        raise RuntimeError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def _wait_ready(base_url: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"gateway exited with status {process.returncode}")
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
