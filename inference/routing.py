"""Choosing a provider for a request: healthy first, sticky per conversation, by weight.

Sticky routing uses weighted rendezvous hashing: the same conversation (or `user`) goes
to the same provider while it is healthy, so vLLM's prefix cache is reused, and only the
requests of a provider that leaves move elsewhere. A provider that fails is taken out of
rotation and probed in the background until it answers again; while it is, this process
says so in `inference.provider_health` (read by the admin's dashboard).
"""

import asyncio
import hashlib
import logging
import math
import random
import time
from datetime import UTC, datetime

from inference import provider_client
from inference.catalog import Route
from inference.provider_health import PROBE_INTERVAL_SECONDS, apublish

logger = logging.getLogger("janserver.routing")

# provider id -> monotonic time it failed; absent means healthy.
_unhealthy: dict[int, float] = {}
_probes: dict[int, asyncio.Task[None]] = {}


def _score(route: Route, key: str) -> float:
    digest = hashlib.blake2b(
        f"{key}|{route.provider_public_id}".encode(), digest_size=8
    )
    unit = (int.from_bytes(digest.digest(), "big") + 1) / (2**64 + 1)
    return -route.weight / math.log(unit)


def candidates(routes: tuple[Route, ...], sticky_key: str | None) -> list[Route]:
    """Return the routes to try in order: healthy ones first, then the rest."""
    healthy = [r for r in routes if r.provider_id not in _unhealthy]
    sick = [r for r in routes if r.provider_id in _unhealthy]
    return _order(healthy, sticky_key) + _order(sick, sticky_key)


def _order(routes: list[Route], sticky_key: str | None) -> list[Route]:
    if len(routes) <= 1:
        return routes
    if sticky_key:
        return sorted(routes, key=lambda r: _score(r, sticky_key), reverse=True)
    # Weighted random order (Efraimidis-Spirakis keys).
    return sorted(routes, key=lambda r: random.random() ** (1 / r.weight), reverse=True)  # noqa: S311


def mark_failed(route: Route) -> None:
    """Take a provider out of rotation and start probing it."""
    if route.provider_id not in _unhealthy:
        logger.warning("Provider %s failed; probing it", route.provider_public_id)
    _unhealthy[route.provider_id] = time.monotonic()
    task = _probes.get(route.provider_id)
    if task is None or task.done():
        _probes[route.provider_id] = asyncio.get_running_loop().create_task(
            _probe(route)
        )


def mark_ok(route: Route) -> None:
    _unhealthy.pop(route.provider_id, None)


def unhealthy_since() -> dict[int, datetime]:
    """Return the providers this process took out of rotation, by id, with when each
    last failed (each is probed every PROBE_INTERVAL_SECONDS until it answers).

    Each process keeps its own: this is what the calling process has seen.
    """
    now_wall, now = time.time(), time.monotonic()
    return {
        provider_id: datetime.fromtimestamp(now_wall - (now - failed), UTC)
        for provider_id, failed in _unhealthy.items()
    }


async def _probe(route: Route) -> None:
    provider_id = route.provider_id
    failed_at = time.time()
    while provider_id in _unhealthy:
        await apublish(route.provider_public_id, failed_at)
        await asyncio.sleep(PROBE_INTERVAL_SECONDS)
        if await provider_client.aprobe(
            base_url=route.base_url, api_key=route.api_key, reach=route.reach
        ):
            logger.info("Provider %s is back", route.provider_public_id)
            mark_ok(route)
    # Back (probed, or a request got through). A process stopped meanwhile says
    # nothing: its line goes stale.
    await apublish(route.provider_public_id, None)


def reset_for_tests() -> None:
    """Forget every provider's health (tests start from all healthy)."""
    _unhealthy.clear()
