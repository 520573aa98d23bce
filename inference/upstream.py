"""The relay's HTTP client: the only module sending inference requests upstream (aiohttp).

One pooled client session per event loop (that is, per worker process), sized for
thousands of concurrent streams. aiohttp is used rather than httpx, which serves the
control plane (inference/provider_client.py): on the relay's hot path httpx's request
model (URL parsing, cookies, auth and redirect hooks) cost more CPU than the whole rest
of a request (docs/decisions/0004-aiohttp-on-the-relay.md).

Failures become janserver.errors (UpstreamError, UpstreamTimeout, ServiceUnavailable)
whose messages never carry the upstream's own words or address.
"""

import asyncio
import ipaddress
import logging
import socket
import weakref
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any, cast

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from django.conf import settings
from multidict import CIMultiDict
from yarl import URL

from inference import egress
from inference.egress import Reach
from janserver.errors import (
    APIError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)

logger = logging.getLogger("janserver.upstream")

READ_SIZE = 64 * 1024
MAX_ERROR_BODY = 64 * 1024

# One session per event loop and reach (inference.egress); a dead loop's go with it.
_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Reach, aiohttp.ClientSession]]" = weakref.WeakKeyDictionary()


def _timeout(*, sock_read: bool = True) -> aiohttp.ClientTimeout:
    """Connect timeouts, and the idle timeout unless OpenStream times reads itself."""
    return aiohttp.ClientTimeout(
        total=None,
        connect=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS,
        sock_connect=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS,
        sock_read=settings.UPSTREAM_IDLE_TIMEOUT_SECONDS if sock_read else None,
    )


class _PolicyResolver(AbstractResolver):
    """Resolve names as aiohttp does, then keep only the addresses the outbound policy
    allows for this reach: the connection is opened to a checked address, whatever the
    name or the DNS answer (names aiohttp caches were checked when resolved)."""

    def __init__(self, reach: Reach) -> None:
        self._reach = reach
        self._resolver = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        allowed = [
            info
            for info in found
            if egress.refusal(ipaddress.ip_address(info["host"]), self._reach) is None
        ]
        if not allowed:
            raise egress.AddressRefused(f"{host} resolves to no allowed address")
        return allowed

    async def close(self) -> None:
        await self._resolver.close()


def session(reach: Reach = Reach.OPERATOR) -> aiohttp.ClientSession:
    """Return this event loop's shared upstream session for providers of `reach`."""
    loop = asyncio.get_running_loop()
    by_reach = _sessions.setdefault(loop, {})
    shared = by_reach.get(reach)
    if shared is None or shared.closed:
        connector = aiohttp.TCPConnector(
            limit=settings.UPSTREAM_MAX_CONNECTIONS,
            keepalive_timeout=settings.UPSTREAM_KEEPALIVE_SECONDS,
            ttl_dns_cache=300,
            resolver=_PolicyResolver(reach),
        )
        shared = by_reach[reach] = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        )
    return shared


async def aclose() -> None:
    """Close this event loop's sessions (at shutdown)."""
    for shared in _sessions.pop(asyncio.get_running_loop(), {}).values():
        await shared.close()


@lru_cache(maxsize=1024)
def _url(base_url: str, path: str) -> URL:
    return URL(base_url.rstrip("/") + "/" + path.lstrip("/"), encoded=False)


def _headers(api_key: str | None, request_id: str | None = None) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict(
        {"Content-Type": "application/json", "Accept": "application/json"}
    )
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if request_id:
        headers["X-Request-Id"] = request_id
    return headers


REFUSED = "The model server's address is not one this provider may use."


def _transport_error(exc: BaseException) -> APIError:
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout()
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, egress.AddressRefused):
            return ServiceUnavailable(REFUSED)
        return ServiceUnavailable("The model server is unreachable.")
    return UpstreamError("The model server closed the connection.")


class OpenStream:
    """An upstream response whose headers and first bytes arrived.

    Silences are timed by one watchdog timer per stream, re-armed only when it fires
    (not per chunk, as `asyncio.timeout` or aiohttp's `sock_read` would): on a stream
    of thousands of small chunks per second, per-chunk timers cost a tenth of the
    relay's CPU. When the watchdog finds the stream silent for `wait` seconds while a
    read is waiting, it interrupts that read the way `asyncio.timeout` does (cancel,
    then uncancel).
    """

    __slots__ = (
        "_fired",
        "_loop",
        "_quiet_since",
        "_reader",
        "_timer",
        "_wait",
        "first_chunk",
        "last_data",
        "response",
    )

    def __init__(self, response: aiohttp.ClientResponse, first_chunk: bytes) -> None:
        self.response = response
        self.first_chunk = first_chunk
        self._loop = asyncio.get_running_loop()
        self.last_data = self._quiet_since = self._loop.time()
        self._wait = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._fired = False

    async def read(self, wait: float) -> bytes | None:
        """Return the next bytes as they arrive, b"" at the end, None after `wait` s.

        The upstream falling silent past the idle timeout, or breaking the stream,
        raises UpstreamTimeout or UpstreamError.
        """
        if self.first_chunk:
            chunk, self.first_chunk = self.first_chunk, b""
            return chunk
        self._wait = wait
        if self._timer is None:
            self._timer = self._loop.call_at(self._due(), self._on_timer)
        task = self._reader = cast(asyncio.Task[Any], asyncio.current_task())
        cancelling = task.cancelling()
        try:
            chunk = await self.response.content.readany()
        except asyncio.CancelledError:
            if not self._fired or task.uncancel() > cancelling:
                raise
            self._fired = False
            self._silence()
            return None
        except aiohttp.ClientError:
            raise UpstreamError("The model server closed the stream early.") from None
        finally:
            self._reader = None
        self.last_data = self._quiet_since = self._loop.time()
        return chunk

    def _due(self) -> float:
        return min(
            self._quiet_since + self._wait,
            self.last_data + settings.UPSTREAM_IDLE_TIMEOUT_SECONDS,
        )

    def _on_timer(self) -> None:
        self._timer = None
        if self._reader is None:
            return  # not waiting: the next read re-arms
        due = self._due()
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._on_timer)
            return
        self._fired = True
        self._reader.cancel()

    def _silence(self) -> None:
        now = self._loop.time()
        if now - self.last_data >= settings.UPSTREAM_IDLE_TIMEOUT_SECONDS:
            raise UpstreamTimeout("The model server stopped sending.")
        self._quiet_since = now

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the whole body in the batches it arrives in (see read())."""
        while True:
            chunk = await self.read(settings.UPSTREAM_IDLE_TIMEOUT_SECONDS)
            if chunk is None:
                continue
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        """Hand a finished connection back to the pool; abort an unfinished one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.response.content.at_eof():
            self.response.release()
        else:
            self.response.close()


class UpstreamStatus(Exception):
    """The upstream answered an HTTP error status before any body was relayed."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


async def open_stream(
    *,
    base_url: str,
    path: str,
    body: bytes,
    api_key: str | None,
    request_id: str | None,
    reach: Reach = Reach.OPERATOR,
) -> OpenStream:
    """POST `body` and wait (at most the first-byte timeout) for the first body bytes.

    The connection goes only to an address the outbound policy allows for `reach`
    (ServiceUnavailable otherwise). The caller owns the returned stream and must
    aclose() it. A non-2xx answer raises UpstreamStatus with the status and a bounded
    body, for the caller to map.
    """
    url = _url(base_url, path)
    # aiohttp connects to a literal address without asking the resolver.
    literal = egress.literal_address(url.host or "")
    if literal is not None and egress.refusal(literal, reach) is not None:
        raise ServiceUnavailable(REFUSED)
    response: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(settings.UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS):
            response = await session(reach).post(
                url,
                data=body,
                headers=_headers(api_key, request_id),
                timeout=_timeout(sock_read=False),
            )
            if response.status >= 400:
                raise UpstreamStatus(
                    response.status, await response.content.read(MAX_ERROR_BODY)
                )
            first = await response.content.readany()
    except UpstreamStatus:
        _close(response)
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        _close(response)
        raise _transport_error(exc) from None
    except BaseException:
        _close(response)
        raise
    return OpenStream(response=response, first_chunk=first)


def _close(response: aiohttp.ClientResponse | None) -> None:
    if response is not None:
        response.close()
