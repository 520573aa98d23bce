"""Rate limits for the unauthenticated auth surface, per client IP: the login routes in
the shared cache, failed credentials in this process."""

import threading
import time
from collections import OrderedDict, deque
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class AuthRateThrottle(SimpleRateThrottle):
    """Limit login, refresh and invite verification calls per client IP address.

    The address is REMOTE_ADDR: the ASGI server has already replaced it with the real
    client when the request came through a trusted proxy (FORWARDED_ALLOW_IPS), so a
    client cannot dodge the limit with its own X-Forwarded-For header.
    """

    scope = "auth"

    def get_rate(self) -> str | None:
        return settings.AUTH_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        address = request.META.get("REMOTE_ADDR") or "unknown"
        return self.cache_format % {"scope": self.scope, "ident": address}


class CredentialFailures:
    """Failed credential attempts per client address, in this process, over a window.

    In memory, without I/O: counted where credentials fail, consulted before a lookup
    that would reach the database. Each process counts its own (N worker processes
    grant an address N times the budget). At most `max_clients` addresses are kept,
    the least recent forgotten first.
    """

    def __init__(self, limit: int, window: float, max_clients: int = 100_000) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                times = self._failures[client] = deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def wait(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        times = self._failures.get(client)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


def rate_parse(rate: str) -> tuple[int, float]:
    """("20/min") -> (20, 60.0), as DRF reads its rates."""
    count, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[:1]]
    return int(count), float(seconds)
