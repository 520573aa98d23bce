"""Django's ASGI handler without per-request thread hops for async views.

For every request, Django's ASGIHandler opens a ThreadSensitiveContext (a new worker
thread the first time sync code runs in it) and runs the request_started and
request_finished signal receivers, and response.close(), through sync_to_async. Those
receivers only manage the DB connections of the thread they run in; an async view
touches the database only through sync_to_async calls that clean up after themselves
(janserver.db.run). So requests routed to an async view skip the hops: the handler below
serves them entirely in the event loop. Everything else is served by Django as usual.
"""

import asyncio
import contextlib
from collections import OrderedDict
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix

from janserver.http.pumped import PumpedResponse, send_pumped

_MAX_CACHED_PATHS = 4096

# handle_async_view() copies ASGIHandler.handle() and _release() copies what
# HttpResponseBase.close() does; they were checked against this Django release
# (janserver/tests/test_architecture.py fails when Django moves past it).
CHECKED_AGAINST_DJANGO = "5.2.19"


class JanserverASGIHandler(ASGIHandler):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        # path -> the ResolverMatch of an async view, or None for any other path.
        self._async_paths: OrderedDict[str, ResolverMatch | None] = OrderedDict()
        # docs/decisions/0003: a PumpedResponse's pump writes to `send` directly.
        self._pumped = "pumped_response" not in settings.BYPASSES_OFF

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._is_async_view(scope["path"]):
            await self.handle_async_view(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def _is_async_view(self, path: str) -> bool:
        if path not in self._async_paths:
            try:
                match: ResolverMatch | None = get_resolver().resolve(path)
            except Resolver404:
                match = None
            if match is not None and not iscoroutinefunction(match.func):
                match = None
            if match is not None and not settings.DEBUG:
                # The patterns tried before this one (for DEBUG's 404 page only) are
                # two thirds of a cached match: 3.4 KB a path with them, 1.1 KB without.
                match.tried = None
            self._async_paths[path] = match
            if len(self._async_paths) > _MAX_CACHED_PATHS:
                self._async_paths.popitem(last=False)
        return self._async_paths[path] is not None

    def resolve_request(self, request: Any) -> ResolverMatch:
        """Reuse the match found by _is_async_view (URL resolution is not free)."""
        match = (
            None
            if hasattr(request, "urlconf")
            else self._async_paths.get(request.path_info)
        )
        if match is None:
            return super().resolve_request(request)
        request.resolver_match = match
        return match

    async def send_response(self, response: Any, send: Any) -> None:
        """Send a PumpedResponse without Django's per-part generator layers."""
        if self._pumped and isinstance(response, PumpedResponse):
            await send_pumped(response, send)
        else:
            await super().send_response(response, send)

    async def handle_async_view(
        self, scope: dict[str, Any], receive: Any, send: Any
    ) -> None:
        """Django's handle(), minus the signal and close() thread hops."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            if error_response is not None:
                await self.send_response(error_response, send)
                error_response.close()
            return

        async def process_request() -> Any:
            response = await self.run_get_response(request)
            # The client may go away while the response is being sent.
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)
            return response

        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        processing = asyncio.create_task(process_request())
        try:
            await asyncio.wait(
                [listener, processing], return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:  # the server ends the request (its shutdown)
            # Django leaves both tasks running; they would be destroyed with the event
            # loop, a stream's usage never recorded. Cancelled, they end as on a
            # client's disconnect.
            for task in (listener, processing):
                task.cancel()
            await asyncio.gather(listener, processing, return_exceptions=True)
            body_file.close()
            raise
        for task in (listener, processing):
            await _settle(task)
        if not processing.cancelled() and processing.exception() is None:
            _release(processing.result())
        body_file.close()


def _release(response: Any) -> None:
    """response.close() without its request_finished signal (see the module docstring)."""
    for closer in response._resource_closers:
        closer()
    response._resource_closers.clear()
    response.closed = True


async def _settle(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return
    if not task.cancelled():
        exception = task.exception()
        if exception is not None and not isinstance(exception, RequestAborted):
            raise exception
