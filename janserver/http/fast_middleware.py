"""Django's stock middleware, made cheap under ASGI.

Django runs a MiddlewareMixin's hooks in a worker thread when serving async requests:
two thread hops per middleware per request. The hooks of Security, Common and
X-Frame-Options middleware do no I/O, so here they run inline in the event loop. The
session-based middleware (sessions, auth, messages, CSRF) serves browser pages only:
API routes authenticate with Bearer credentials and skip it entirely.
"""

from typing import Any

from asgiref.sync import sync_to_async
from corsheaders.middleware import CorsMiddleware as CorsHeadersMiddleware
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security

# Bearer-authenticated routes; /v1/auth/ keeps sessions for the Google login flow.
API_PREFIXES = ("/v1/", "/healthcheck", "/healthz", "/readyz", "/metrics")
SESSION_API_PREFIXES = ("/v1/auth/",)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) and not path.startswith(SESSION_API_PREFIXES)


class InlineHooks:
    """Run process_request/process_response in the event loop (hooks that do no I/O)."""

    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = (
            self.process_request(request) if hasattr(self, "process_request") else None
        )
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class BrowserOnly:
    """Skip this middleware on API routes; run it as usual everywhere else."""

    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if is_api_path(request.path):
            return await self.get_response(request)
        return await super().__acall__(request)  # type: ignore[misc]


class SecurityMiddleware(InlineHooks, security.SecurityMiddleware):
    pass


class CommonMiddleware(InlineHooks, common.CommonMiddleware):
    pass


class XFrameOptionsMiddleware(InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass


class SessionMiddleware(BrowserOnly, sessions_middleware.SessionMiddleware):
    pass


class AuthenticationMiddleware(BrowserOnly, auth_middleware.AuthenticationMiddleware):
    pass


class MessageMiddleware(BrowserOnly, messages_middleware.MessageMiddleware):
    pass


class CsrfViewMiddleware(BrowserOnly, csrf.CsrfViewMiddleware):
    async def process_view(  # type: ignore[override]
        self, request: HttpRequest, callback: Any, args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        # A coroutine, so that Django does not run it in a thread for API requests.
        if is_api_path(request.path):
            return None
        return await sync_to_async(super().process_view)(
            request, callback, args, kwargs
        )


class CorsMiddleware(CorsHeadersMiddleware):
    """CORS only concerns browsers, which always send Origin; skip the rest cheaply."""

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:  # type: ignore[override]
        if "HTTP_ORIGIN" not in request.META:
            return await self.get_response(request)  # type: ignore[misc]
        return await super().__acall__(request)
