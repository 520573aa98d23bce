"""The control plane's HTTP client (httpx): a model server's model list, and whether it
answers. The relay's requests go through inference/upstream.py (aiohttp) instead.

Every call is bounded: connect within UPSTREAM_CONNECT_TIMEOUT_SECONDS, the whole call
within CALL_SECONDS (a request thread, or a probe, waits for it), the body within
MAX_MODELS_BODY. The host name is resolved here and the connection pinned to an address
the outbound policy allows for the provider's reach (inference.egress); TLS still
verifies the certificate against the name. Failures become janserver.errors
(UpstreamError, UpstreamTimeout, ServiceUnavailable) whose messages never carry the
upstream's own words or address.
"""

import asyncio
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from inference import egress
from inference.egress import Reach
from janserver.errors import (
    APIError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)

MAX_MODELS_BODY = 8 * 1024 * 1024
# A model list or a probe is small: a server that takes longer is as good as down.
CALL_SECONDS = 15.0
PROBE_FAILURES = (UpstreamError, UpstreamTimeout, ServiceUnavailable)


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(
        CALL_SECONDS, connect=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS
    )


REFUSED = "The model server's address is not one this provider may use."


@dataclass(frozen=True)
class _Request:
    """A `GET /models` pinned to one checked address."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


def _pinned(url: httpx.URL, addresses: list[str], reach: Reach) -> httpx.URL:
    """`url` with its host replaced by the first address the policy allows."""
    for text in addresses:
        if egress.refusal(ipaddress.ip_address(text), reach) is None:
            return url.copy_with(host=text)
    raise ServiceUnavailable(REFUSED)


def _request(
    base_url: str, api_key: str | None, addresses: list[str], reach: Reach
) -> _Request:
    url = httpx.URL(base_url.rstrip("/") + "/models")
    headers = {"Accept": "application/json", "Host": url.netloc.decode("ascii")}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return _Request(_pinned(url, addresses, reach), headers, extensions)


def _addresses(infos: list[Any]) -> list[str]:
    return [info[4][0] for info in infos]


def _resolve(base_url: str) -> list[str]:
    host = httpx.URL(base_url).host
    try:
        return _addresses(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM))
    except OSError:
        raise ServiceUnavailable("The model server is unreachable.") from None


async def _aresolve(base_url: str) -> list[str]:
    host = httpx.URL(base_url).host
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, None, type=socket.SOCK_STREAM
        )
    except OSError:
        raise ServiceUnavailable("The model server is unreachable.") from None
    return _addresses(infos)


def _transport_error(exc: httpx.HTTPError) -> APIError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout()
    if isinstance(exc, httpx.ConnectError):
        return ServiceUnavailable("The model server is unreachable.")
    return UpstreamError("The model server closed the connection.")


def _models_of(status: int, body: bytes) -> list[dict[str, Any]]:
    """The model objects of a `GET /models` answer; raise UpstreamError otherwise."""
    if status != 200:
        raise UpstreamError(f"The model server answered {status}.")
    try:
        data = json.loads(body)["data"]
    except (ValueError, KeyError, TypeError):
        raise UpstreamError() from None
    if not isinstance(data, list):
        raise UpstreamError()
    return [
        item
        for item in data
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


class _Body:
    """A body read chunk by chunk, within the size cap and the call's deadline."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.deadline = time.monotonic() + CALL_SECONDS

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > MAX_MODELS_BODY:
            raise UpstreamError("The model server's model list is too large.")
        if time.monotonic() > self.deadline:
            raise UpstreamTimeout()
        self.parts.append(chunk)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def models_fetch(
    *, base_url: str, api_key: str | None = None, reach: Reach = Reach.OPERATOR
) -> list[dict[str, Any]]:
    """Return the model server's `GET /models` list of model objects.

    Raises UpstreamError, UpstreamTimeout or ServiceUnavailable (connection refused,
    or an address the outbound policy forbids for `reach`).
    """
    request = _request(base_url, api_key, _resolve(base_url), reach)
    body = _Body()
    try:
        with (
            httpx.Client(timeout=_timeout(), trust_env=False) as client,
            client.stream(
                "GET",
                request.url,
                headers=request.headers,
                extensions=request.extensions,
            ) as response,
        ):
            for chunk in response.iter_raw():
                body.add(chunk)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    return _models_of(response.status_code, body.bytes())


async def amodels_fetch(
    *, base_url: str, api_key: str | None = None, reach: Reach = Reach.OPERATOR
) -> list[dict[str, Any]]:
    """See models_fetch()."""
    request = _request(base_url, api_key, await _aresolve(base_url), reach)
    body = _Body()
    try:
        async with (
            httpx.AsyncClient(timeout=_timeout(), trust_env=False) as client,
            client.stream(
                "GET",
                request.url,
                headers=request.headers,
                extensions=request.extensions,
            ) as response,
        ):
            async for chunk in response.aiter_raw():
                body.add(chunk)
    except httpx.HTTPError as exc:
        raise _transport_error(exc) from None
    return _models_of(response.status_code, body.bytes())


def probe(
    *, base_url: str, api_key: str | None = None, reach: Reach = Reach.OPERATOR
) -> bool:
    """Return whether the model server answers `GET /models` with a model list."""
    try:
        models_fetch(base_url=base_url, api_key=api_key, reach=reach)
    except PROBE_FAILURES:
        return False
    return True


async def aprobe(
    *, base_url: str, api_key: str | None = None, reach: Reach = Reach.OPERATOR
) -> bool:
    """See probe()."""
    try:
        await amodels_fetch(base_url=base_url, api_key=api_key, reach=reach)
    except PROBE_FAILURES:
        return False
    return True
