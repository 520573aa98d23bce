"""Production server: gunicorn managing uvicorn workers that serve janserver.asgi.

Gunicorn reads this file before Django starts, so the few server knobs are read from the
environment here rather than in janserver/settings.py.
"""

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dotenv import dotenv_values

# The production server never reads the checkout's .env (local development's own);
# JANSERVER_ENV_FILE names a file for it to read (janserver.env.env_file_load).
os.environ.setdefault("JANSERVER_ENV_FILE", "")
_env_file = os.environ["JANSERVER_ENV_FILE"].strip()
_debug = os.environ.get("DJANGO_DEBUG")
if _debug is None and _env_file:
    _debug = dotenv_values(_env_file).get("DJANGO_DEBUG")

if (_debug or "").strip().lower() in {"1", "true", "yes", "on"}:
    # Debug pages leak internals and DEBUG allows insecure generated secrets.
    sys.exit(
        "DJANGO_DEBUG is on: the production server refuses to start. Unset it (and set "
        "DJANGO_SECRET_KEY, JWT_SECRET, APIKEY_SECRET), or use `make run` to develop."
    )

wsgi_app = "janserver.asgi:application"
# uvicorn's worker, ending open requests 30 s before graceful_timeout (janserver/worker.py).
worker_class = "janserver.worker.Worker"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("GUNICORN_WORKERS") or (os.cpu_count() or 1))
# MCP sessions live in the worker that opened them, and a client's next request may
# reach another worker: with several, /v1/mcp serves every request on its own unless
# MCP_STATELESS says otherwise (read by janserver/settings.py in each worker).
if workers > 1 and not os.environ.get("MCP_STATELESS", "").strip():
    os.environ["MCP_STATELESS"] = "1"
# Streams can run for minutes: never kill a busy worker on a timer, and on shutdown give
# open streams time to finish (those still open 30 s before it are ended, their usage
# recorded, so that the worker's shutdown completes before gunicorn's deadline).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "0"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "120"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
accesslog = None  # janserver logs one JSON line per request itself
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Set by on_starting when it had to create the Prometheus directory itself.
_created_metrics_dir: str | None = None


def on_starting(server: object) -> None:
    """Bootstrap the database, then prepare the Prometheus multiprocess directory."""
    _bootstrap()
    _prepare_metrics_dir()


def _bootstrap() -> None:
    """Run `manage.py bootstrap` once per server start, in a child process.

    A child keeps database connections (and the psycopg pool) out of the master, whose
    memory every worker inherits. A failure is logged, not fatal: /readyz reports the
    database state, and the next start tries again. The child gets no Prometheus
    directory: its metrics would outlive it there.
    """
    manage = Path(__file__).resolve().parent / "manage.py"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(manage), "bootstrap"], env=env, check=False
    )
    if result.returncode != 0:
        logging.getLogger("gunicorn.error").error(
            "manage.py bootstrap failed (exit %s)", result.returncode
        )


def _prepare_metrics_dir() -> None:
    """Give the workers a PROMETHEUS_MULTIPROC_DIR, empty, before they fork.

    prometheus-client chooses multiprocess mode when it is first imported, from this
    variable: the workers inherit it from the master. Files of an earlier run would add
    stale values, so an existing directory is emptied of them.
    """
    global _created_metrics_dir
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = _created_metrics_dir = tempfile.mkdtemp(prefix="janserver-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()


def child_exit(server: object, worker: object) -> None:
    """Drop the live gauges (in-flight streams, usage queue) of a worker that exited."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    if _created_metrics_dir:
        shutil.rmtree(_created_metrics_dir, ignore_errors=True)
