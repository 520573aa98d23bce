"""The real URLs plus views that exercise janserver's ASGI handler."""

import asyncio

from django.http import HttpRequest, HttpResponse
from django.urls import path

from janserver.http.pumped import PumpedResponse, Write, event_stream
from janserver.urls import handler400, handler403, handler404, handler500, urlpatterns

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]

# What the pumps of the views below did, for the tests to read.
seen: list[str] = []


async def pumped(request: HttpRequest) -> PumpedResponse:
    async def pump(write: Write) -> None:
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            await write(part)

    return event_stream(pump)


async def endless(request: HttpRequest) -> PumpedResponse:
    async def pump(write: Write) -> None:
        try:
            while True:
                await write(b": tick\n\n")
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    return event_stream(pump)


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"sync", content_type="text/plain")


urlpatterns = [
    *urlpatterns,
    path("test/pumped", pumped),
    path("test/endless", endless),
    path("test/plain", plain),
]
