"""Django middleware that every request passes: request id, access log, error contract."""

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from janserver.errors import (
    APIError,
    RequestTooLarge,
    api_error_from_exception,
    error_for_status,
    error_response,
    route_not_found,
    unhandled_error_response,
)
from janserver.ids import new_request_id
from janserver.log import request_id_var

access_logger = logging.getLogger("janserver.access")
error_logger = logging.getLogger("janserver.errors")

# Browser pages keep Django's HTML errors; every other route answers with the JSON contract.
HTML_PREFIXES = ("/admin/", "/api/swagger/", "/static/")

GetResponse = Callable[[HttpRequest], Any]


class DualModeMiddleware:
    """Middleware base that runs natively in sync and async mode (no thread hop)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.acall(request)
        early = self.before(request)
        response = early or self.get_response(request)
        return self.after(request, response)

    async def acall(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        response = early or await self.get_response(request)
        return self.after(request, response)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def after(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        return response


class RequestContextMiddleware(DualModeMiddleware):
    """Give each request an id (header, logs), log one access line, cap the body size."""

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        scope = getattr(request, "scope", None) or {}
        request.request_id = scope.get("request_id") or new_request_id()  # type: ignore[attr-defined]
        request.started_at = time.perf_counter()  # type: ignore[attr-defined]
        request_id_var.set(request.request_id)  # type: ignore[attr-defined]
        return _reject_large_body(request)

    def after(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        started_at: float = request.started_at  # type: ignore[attr-defined]
        access_logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started_at) * 1000, 2),
            },
        )
        return response


def _reject_large_body(request: HttpRequest) -> HttpResponseBase | None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if cap is not None and length > cap:
        return error_response(
            RequestTooLarge(f"The request body is larger than {cap} bytes.")
        )
    return None


class ErrorContractMiddleware(DualModeMiddleware):
    """Render exceptions and bare error responses as the OpenAI-style JSON error body."""

    def after(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if response.status_code < 400 or request.path.startswith(HTML_PREFIXES):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code == 404:
            # A view's Http404 was rendered by process_exception; this is a route miss.
            error: APIError = route_not_found(request)
        else:
            error = error_for_status(response.status_code)
        replacement = error_response(error, response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        if request.path.startswith(HTML_PREFIXES):
            return None
        error = api_error_from_exception(exception)
        if error is not None:
            return error_response(error)
        error_logger.exception("Unhandled exception", extra={"path": request.path})
        return unhandled_error_response()
