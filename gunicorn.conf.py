"""Production server: gunicorn managing uvicorn workers that serve janserver.asgi.

Gunicorn reads this file before Django starts, so the few server knobs are read from the
environment here rather than in janserver/settings.py.
"""

import logging
import os
import subprocess
import sys
from pathlib import Path

wsgi_app = "janserver.asgi:application"
worker_class = "uvicorn_worker.UvicornWorker"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("GUNICORN_WORKERS") or (os.cpu_count() or 1))
# Streams can run for minutes: never kill a busy worker on a timer, and on shutdown give
# open streams time to finish.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "0"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "120"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
accesslog = None  # janserver logs one JSON line per request itself
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server: object) -> None:
    """Run `manage.py bootstrap` once per server start, in a child process.

    A child keeps database connections (and the psycopg pool) out of the master, whose
    memory every worker inherits. A failure is logged, not fatal: /readyz reports the
    database state, and the next start tries again.
    """
    manage = Path(__file__).resolve().parent / "manage.py"
    result = subprocess.run([sys.executable, str(manage), "bootstrap"], check=False)  # noqa: S603
    if result.returncode != 0:
        logging.getLogger("gunicorn.error").error(
            "manage.py bootstrap failed (exit %s)", result.returncode
        )
