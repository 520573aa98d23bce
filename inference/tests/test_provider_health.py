"""Provider health shared between processes: what each process that has a provider
out of rotation publishes, how it goes stale, and routing's probe loop publishing."""

import asyncio
import secrets

import pytest
from django.core.cache import cache

from inference import provider_health, routing
from inference.catalog import Route
from inference.provider_health import STALE_AFTER_SECONDS, SharedHealth


@pytest.fixture
def provider() -> str:
    """A provider public id no other test (or pytest-xdist process) uses."""
    return f"prov_{secrets.token_hex(8)}"


def as_process(monkeypatch, name: str) -> None:
    monkeypatch.setattr(provider_health, "process_name", lambda: name)


async def test_each_process_says_so_and_the_first_failure_is_the_since(
    monkeypatch, provider
):
    as_process(monkeypatch, "a:1")
    await provider_health.apublish(provider, 100.0, now=200.0)
    as_process(monkeypatch, "b:2")
    await provider_health.apublish(provider, 150.0, now=200.0)
    shared = provider_health.shared_unhealthy([provider, "prov_other"], now=201.0)
    assert list(shared) == [provider]
    assert shared[provider].processes == 2
    assert shared[provider].failed_at.timestamp() == 100.0
    # Process a has it back: only b's line is left.
    as_process(monkeypatch, "a:1")
    await provider_health.apublish(provider, None, now=202.0)
    shared = provider_health.shared_unhealthy([provider], now=203.0)
    assert (shared[provider].processes, shared[provider].failed_at.timestamp()) == (
        1,
        150.0,
    )
    as_process(monkeypatch, "b:2")
    await provider_health.apublish(provider, None, now=204.0)
    assert provider_health.shared_unhealthy([provider], now=205.0) == {}


async def test_a_line_not_renewed_goes_stale(monkeypatch, provider):
    """A process that died (or stopped probing) no longer counts once its line is
    older than STALE_AFTER_SECONDS; a renewal keeps it."""
    as_process(monkeypatch, "a:1")
    await provider_health.apublish(provider, 100.0, now=1_000.0)
    as_process(monkeypatch, "b:2")
    await provider_health.apublish(provider, 500.0, now=1_000.0 + STALE_AFTER_SECONDS)
    later = 1_000.0 + STALE_AFTER_SECONDS + 1
    shared = provider_health.shared_unhealthy([provider], now=later)
    assert shared[provider].processes == 1
    assert shared[provider].failed_at.timestamp() == 500.0


class _CacheDown:
    async def aget(self, *args, **kwargs):
        raise ConnectionError("cache down")

    def get_many(self, *args, **kwargs):
        raise ConnectionError("cache down")


async def test_a_cache_that_fails_never_fails_the_publisher(
    monkeypatch, provider, caplog
):
    monkeypatch.setattr(provider_health, "cache", _CacheDown())
    await provider_health.apublish(provider, 1.0)  # logged, not raised
    assert "Could not publish" in caplog.text


async def test_garbage_in_the_cache_reads_as_healthy(provider):
    await cache.aset(provider_health.KEY.format(provider), ["not", "a", "dict"])
    assert provider_health.shared_unhealthy([provider]) == {}


async def test_routing_publishes_while_it_probes_and_clears_when_back(
    monkeypatch, provider
):
    """A provider that failed is published as out of rotation by this process while
    it is probed; once back (here: a request got through), the line is removed."""
    monkeypatch.setattr(routing, "PROBE_INTERVAL_SECONDS", 0.01)
    routing.reset_for_tests()
    route = Route(1, provider, "P", "vllm", "http://127.0.0.1:9/v1", None, 1)

    async def published() -> dict[str, SharedHealth]:
        return await asyncio.to_thread(provider_health.shared_unhealthy, [provider])

    routing.mark_failed(route)
    for _ in range(500):
        if await published():
            break
        await asyncio.sleep(0.01)
    shared = await published()
    assert shared[provider].processes == 1
    routing.mark_ok(route)
    for _ in range(500):
        if not await published():
            break
        await asyncio.sleep(0.01)
    assert await published() == {}
    routing.reset_for_tests()
