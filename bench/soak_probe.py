"""janserver's ASGI application with a memory probe: `bench.soak --probe` (or
`--tracemalloc`) serves this instead of janserver.asgi to see what the worker's memory
grows with.

A daemon thread of the worker appends, every SOAK_PROBE_EVERY seconds (default 30),
one JSON line to SOAK_PROBE_DIR/probe.jsonl: seconds since start, the RSS, the number
of objects the garbage collector tracks, the sizes of the worker's bounded caches
(credential cache entries, the handler's cached paths), and the Redis connections the
(synchronous) cache client has opened so far. With SOAK_PROBE_TRACEMALLOC=1
it also writes a tracemalloc snapshot (10 frames a trace) each time, named by the
seconds since start; bench.soak compares the first after the warm-up with the last.
"""

import gc
import json
import os
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

from redis.connection import Connection

from janserver.asgi import application, django_asgi_app
from janserver.auth_cache import cache

__all__ = ["application"]

_redis_connects = 0
_socket_connect = Connection._connect


def _counted_connect(self: Connection) -> Any:
    global _redis_connects
    _redis_connects += 1
    return _socket_connect(self)


def measures(started: float) -> dict[str, Any]:
    # Objects frozen at start (janserver.asgi) are not counted: they do not change.
    objects = gc.get_objects()
    status = Path("/proc/self/status").read_text().splitlines()
    rss = next(int(row.split()[1]) for row in status if row.startswith("VmRSS:"))
    return {
        "seconds": round(time.monotonic() - started),
        "rss_mib": round(rss / 1024, 2),
        "gc_objects": len(objects),
        "credential_cache_entries": len(cache()._data),
        "handler_cached_paths": len(getattr(django_asgi_app, "_async_paths", ())),
        "redis_connects": _redis_connects,
    }


def _probe(folder: Path, every: float, snapshots: bool) -> None:
    started = time.monotonic()
    while True:
        time.sleep(every)
        line = measures(started)
        with open(folder / "probe.jsonl", "a") as out:
            out.write(json.dumps(line) + "\n")
        if snapshots:
            name = folder / f"{line['seconds']:05d}.tracemalloc"
            tracemalloc.take_snapshot().dump(f"{name}.tmp")
            Path(f"{name}.tmp").rename(name)


if folder := os.environ.get("SOAK_PROBE_DIR"):
    Connection._connect = _counted_connect  # type: ignore[method-assign]
    snapshots = os.environ.get("SOAK_PROBE_TRACEMALLOC") == "1"
    if snapshots:
        tracemalloc.start(10)
    every = float(os.environ.get("SOAK_PROBE_EVERY", "30"))
    threading.Thread(
        target=_probe, args=(Path(folder), every, snapshots), daemon=True, name="probe"
    ).start()
