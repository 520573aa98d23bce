"""Serve an ASGI app with uvicorn on 127.0.0.1 in a daemon thread (the fakes of tests)."""

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

HOST = "127.0.0.1"


@contextlib.contextmanager
def serve_in_thread(
    app: Any, port: int = 0, lifespan: Literal["on", "off"] = "on"
) -> Iterator[str]:
    """Serve `app` until the block ends; yield its base URL (http://127.0.0.1:PORT)."""
    config = uvicorn.Config(
        app, host=HOST, port=port, log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fake-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake server did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    try:
        yield f"http://{HOST}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
