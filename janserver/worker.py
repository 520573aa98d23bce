"""The gunicorn worker of the production server: uvicorn's, with a shutdown deadline.

On SIGTERM uvicorn waits for every open request and stream, however long, then runs
the ASGI lifespan shutdown (`janserver.lifespan`: background work, then the usage
rows still queued). gunicorn's master kills a worker outright once its
`graceful_timeout` has passed, and that kill would cut the streams still open
without a usage row and skip the shutdown, losing the rows queued since the last
flush. This worker stops waiting `SHUTDOWN_RESERVE_SECONDS` before gunicorn's
deadline: the requests still running are cancelled (a cancelled stream records its
usage as a disconnect and saves its partial turn, as when a client leaves), and the
lifespan shutdown runs in the time left.
"""

from typing import Any

from uvicorn_worker import UvicornWorker

# What the lifespan shutdown needs after the requests end: up to 20 s for background
# work (janserver.lifespan.BACKGROUND_DRAIN_SECONDS), then the usage flush.
SHUTDOWN_RESERVE_SECONDS = 30


class Worker(UvicornWorker):
    """uvicorn's gunicorn worker (uvloop and httptools when installed) that ends its
    requests before gunicorn's graceful timeout does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = shutdown_deadline(
            self.cfg.graceful_timeout
        )


def shutdown_deadline(graceful_timeout: float) -> float:
    """How long the worker waits for open requests after SIGTERM."""
    return max(graceful_timeout - SHUTDOWN_RESERVE_SECONDS, 1)
