"""Pytest fixtures of the tools app: the fake Serper, a second MCP server, and an MCP
client of the live gateway (loaded through `pytest_plugins` in the root conftest.py)."""

from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from tools import registry
from tools.testing import fake_mcp, fake_serper


@pytest.fixture(scope="session")
def serper_server() -> Iterator[fake_serper.FakeSerper]:
    with fake_serper.run_in_thread() as server:
        yield server


@pytest.fixture
def serper(serper_server, settings) -> Iterator[fake_serper.FakeSerper]:
    """The fake Serper, configured as the server's Serper, reset after the test."""
    settings.SERPER_API_KEY = serper_server.api_key
    settings.SERPER_SEARCH_URL = serper_server.search_url
    settings.SERPER_SCRAPE_URL = serper_server.scrape_url
    serper_server.reset()
    yield serper_server
    serper_server.reset()


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[fake_mcp.FakeMcp]:
    with fake_mcp.run_in_thread() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_tool_lists() -> Iterator[None]:
    registry.reset_for_tests()
    yield
    registry.reset_for_tests()


@asynccontextmanager
async def mcp_session(
    url: str, secret: str, *, api_key_header: bool = False, **client: Any
):
    """An initialized official-SDK ClientSession on `url` with a Bearer credential
    (with `api_key_header`, the key in X-API-Key instead)."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    headers = (
        {"X-API-Key": secret}
        if api_key_header
        else {"Authorization": f"Bearer {secret}"}
    )
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30, **client) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session
