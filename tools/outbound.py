"""Outbound HTTP of tools: connections pinned to an address the outbound policy allows.

Serper (httpx) and organizations' MCP servers (the MCP SDK's client, on httpx2) are
reached through transports that resolve the host name themselves, refuse any address
`inference.egress` forbids for the URL's reach, and connect to the checked address
(TLS still verifies the certificate against the name). A redirect, or a DNS answer that
changes between two requests, is checked again: every request goes through here.
"""

import asyncio
import ipaddress
import socket
from typing import Any

import httpx
import httpx2
from django.conf import settings

from inference import egress
from inference.egress import AddressRefused, Reach


async def _allowed_address(host: str, reach: Reach) -> str:
    """The first address of `host` the policy allows for `reach`; AddressRefused else."""
    literal = egress.literal_address(host)
    if literal is not None:
        egress.check(literal, reach)
        return str(literal)
    try:
        async with asyncio.timeout(settings.TOOL_CONNECT_TIMEOUT_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError):
        raise ConnectionError(f"{host} does not resolve") from None
    refused = None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        refused = egress.refusal(address, reach)
        if refused is None:
            return str(address)
    raise AddressRefused(f"{host} resolves to {refused}")


def _pin(request: Any, address: str) -> None:
    """Send `request` to `address`, keeping its Host header and TLS server name."""
    host = request.url.host
    request.headers["Host"] = request.url.netloc.decode("ascii")
    if request.url.scheme == "https":
        request.extensions = {**request.extensions, "sni_hostname": host}
    request.url = request.url.copy_with(host=address)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects only where the outbound policy allows."""

    def __init__(self, reach: Reach, **kwargs: Any) -> None:
        super().__init__(trust_env=False, **kwargs)
        self.reach = reach

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _pin(request, await _allowed_address(request.url.host, self.reach))
        return await super().handle_async_request(request)


class PinnedTransport2(httpx2.AsyncHTTPTransport):
    """The same for httpx2, the HTTP client of the MCP SDK."""

    def __init__(self, reach: Reach, **kwargs: Any) -> None:
        super().__init__(trust_env=False, **kwargs)
        self.reach = reach

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        _pin(request, await _allowed_address(request.url.host, self.reach))
        return await super().handle_async_request(request)


__all__ = ["AddressRefused", "PinnedTransport", "PinnedTransport2"]
