"""Serper, the search and scrape service behind `google_search` and `scrape`.

POSTs JSON to SERPER_SEARCH_URL / SERPER_SCRAPE_URL with the `X-API-KEY` header, within
TOOL_CONNECT_TIMEOUT_SECONDS to connect and the caller's deadline for the whole call,
reading at most TOOL_RESULT_MAX_BYTES of the answer. Every failure (no key, refused
connection, timeout, 4xx/5xx, an answer that is not a JSON object, one over the cap)
raises ToolFailure with a message that tells a model or a person what happened; the
key never appears in one.
"""

import json
from typing import Any

import httpx
from django.conf import settings

from inference.egress import AddressRefused, Reach
from tools.models import ToolOutcome
from tools.outbound import PinnedTransport
from tools.results import ToolFailure

NOT_CONFIGURED = (
    "Web search is not available on this server: no Serper API key is configured "
    "(SERPER_API_KEY)."
)


def configured() -> bool:
    """Whether google_search and scrape can work (a Serper API key is set)."""
    return bool(settings.SERPER_API_KEY)


def _status_failure(status: int) -> ToolFailure:
    if status in (401, 403):
        message = "Serper refused this server's API key."
    elif status == 429:
        message = "Serper's rate limit or credit balance was reached; try again later."
    elif status < 500:
        message = f"Serper refused the request (HTTP {status})."
    else:
        message = f"Serper failed (HTTP {status}); try again later."
    return ToolFailure(message, ToolOutcome.TOOL_ERROR)


async def _read_capped(response: httpx.Response) -> bytes:
    cap = settings.TOOL_RESULT_MAX_BYTES
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ToolFailure(
                f"Serper's answer is larger than the {cap}-byte cap.",
                ToolOutcome.TOO_LARGE,
            )
        parts.append(chunk)
    return b"".join(parts)


async def post(url: str, body: dict[str, Any], *, seconds: float) -> dict[str, Any]:
    """POST `body` to a Serper endpoint; return its JSON object or raise ToolFailure."""
    if not configured():
        raise ToolFailure(NOT_CONFIGURED, ToolOutcome.UNAVAILABLE)
    headers = {"X-API-KEY": settings.SERPER_API_KEY, "Accept": "application/json"}
    limits = httpx.Timeout(seconds, connect=settings.TOOL_CONNECT_TIMEOUT_SECONDS)
    try:
        async with (
            httpx.AsyncClient(
                transport=PinnedTransport(Reach.OPERATOR), timeout=limits
            ) as client,
            client.stream("POST", url, json=body, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise _status_failure(response.status_code)
            raw = await _read_capped(response)
    except httpx.TimeoutException:
        raise ToolFailure(
            "Serper did not answer in time.", ToolOutcome.TIMEOUT
        ) from None
    except (httpx.HTTPError, ConnectionError, AddressRefused):
        raise ToolFailure(
            "Serper cannot be reached; try again later.", ToolOutcome.UNAVAILABLE
        ) from None
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ToolFailure(
            "Serper answered something that is not JSON.", ToolOutcome.TOOL_ERROR
        )
    return data
