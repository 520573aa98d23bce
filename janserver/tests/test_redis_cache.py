"""The Redis cache backend: one connection pool per process, however many requests."""

import asyncio

from django.core.cache import caches

from janserver.redis_cache import SharedPoolRedisCache

NOWHERE = "redis://127.0.0.1:1"  # never connected to: pools connect lazily


async def test_requests_use_their_own_cache_objects_but_one_pool(settings):
    """Django gives each request (async context) its own cache object; all of them
    take their connections from one pool, so a request opens no connection."""
    settings.CACHES = {
        "default": {
            "BACKEND": "janserver.redis_cache.SharedPoolRedisCache",
            "LOCATION": f"{NOWHERE}/4",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }

    async def request() -> tuple[object, object]:
        cache = caches["default"]
        return cache, cache._cache._get_connection_pool(write=True)

    (first, first_pool), (second, second_pool) = await asyncio.gather(
        asyncio.create_task(request()), asyncio.create_task(request())
    )
    assert first is not second
    assert first_pool is second_pool


def test_each_server_and_options_get_their_own_pool():
    """Another database, or other options, is another pool."""
    options = {"OPTIONS": {"socket_timeout": 2}}

    def pool(location: str, params: dict) -> object:
        return SharedPoolRedisCache(location, params)._cache._get_connection_pool(True)

    shared = pool(f"{NOWHERE}/4", options)
    assert pool(f"{NOWHERE}/4", options) is shared
    assert pool(f"{NOWHERE}/5", options) is not shared
    assert pool(f"{NOWHERE}/4", {"OPTIONS": {"socket_timeout": 3}}) is not shared
