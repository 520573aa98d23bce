"""Django's Redis cache backend with one connection pool per process, not per request."""

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

# (server URL, pool options) -> the process's connection pool to it.
_pools: dict[tuple[str, str], Any] = {}
_pools_lock = threading.Lock()


class SharedPoolClient(RedisCacheClient):
    """A RedisCacheClient that takes its connection pools from the process's."""

    # Set by RedisCacheClient (django-stubs leaves its private members out).
    _servers: list[str]
    _pool_class: Any
    _pool_options: dict[str, Any]
    _get_connection_pool_index: Callable[[bool], int]

    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        server = self._servers[index]
        key = (server, repr(sorted(self._pool_options.items())))
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = self._pool_class.from_url(
                    server, **self._pool_options
                )
        return pool


class SharedPoolRedisCache(RedisCache):
    """Django's RedisCache whose connections outlive the request.

    Django keeps one cache object per async context, so one per ASGI request, and
    RedisCache's client keeps its own connection pool: each request that used the
    cache (the login throttle) opened a Redis connection of its own, closed only when
    the garbage collector reached it (bench.soak: ~200 new connections a minute). The
    pools of redis-py are thread-safe and reset themselves in a forked child.
    """

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolClient
