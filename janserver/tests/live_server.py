"""Start janserver as a real ASGI server (a subprocess on 127.0.0.1) for end-to-end tests."""

import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="janserver.tests.settings_server",
        DATABASE_URL=database_url,
        PYTHONPATH=str(ROOT),
        JANSERVER_ENV_FILE="",  # never the checkout's own .env
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def migrated_template(shared_dir: Path) -> Path:
    """Return a migrated SQLite file in `shared_dir`, made by the first caller of a test
    run (test processes share `shared_dir`; the others wait for it): one `migrate`
    instead of one per server test."""
    template = shared_dir / "migrated.sqlite3"
    with open(shared_dir / "migrated.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = shared_dir / "migrating.sqlite3"
            result = manage(
                server_env(f"sqlite:///{building}"), "migrate", "--no-input"
            )
            if result.returncode != 0:
                raise RuntimeError(f"migrate failed:\n{result.stderr}")
            building.rename(template)
    return template


def migrated_copy(shared_dir: Path, target: Path) -> Path:
    """Copy the run's migrated SQLite file (migrated_template) to `target`."""
    shutil.copy(migrated_template(shared_dir), target)
    return target


@contextmanager
def running_server(
    command: list[str], env: dict[str, str], port: int, log_path: Path | None = None
) -> Iterator[str]:
    """Run `command` until it answers /healthcheck on `port`; yield its base URL.

    The server's output goes to `log_path` (or a temporary file): a pipe nobody reads
    would fill up and block the server.
    """
    with running_process(command, env, port, log_path) as process:
        yield process.base_url


class ServerProcess(subprocess.Popen[bytes]):
    base_url: str


@contextmanager
def running_process(
    command: list[str],
    env: dict[str, str],
    port: int,
    log_path: Path | None = None,
    ready_path: str = "/healthcheck",
) -> Iterator[ServerProcess]:
    """See running_server(); yield the process (its `base_url` set), stopped (SIGTERM,
    then SIGKILL after 10 s) at the end unless it ended already."""
    log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()  # noqa: SIM115
    process = ServerProcess(
        command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    process.base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(
                    f"server exited with {process.returncode}:\n{output}"
                )
            try:
                url = process.base_url + ready_path
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 30 s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def uvicorn_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "janserver.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
