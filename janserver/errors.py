"""OpenAI-style errors: one exception family, one renderer, one DRF handler."""

import logging
from typing import Any, ClassVar

from django.core import exceptions as django_exceptions
from django.db import utils as db_errors
from django.http import Http404, HttpRequest, JsonResponse
from redis import exceptions as redis_exceptions
from rest_framework import exceptions as drf_exceptions
from rest_framework.settings import api_settings

logger = logging.getLogger("janserver.errors")


class APIError(Exception):
    """Base for every error the API reports; subclasses pick status, type and code."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = "internal_error"
    default_message: ClassVar[str] = (
        "The server had an error while processing the request."
    )

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.param = param
        self.error_code = code or self.code
        self.headers = dict(headers or {})
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.error_code,
            }
        }


class InvalidRequest(APIError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_value"
    default_message = "The request is invalid."


class InvalidJSON(InvalidRequest):
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class MissingParameter(InvalidRequest):
    code = "missing_required_parameter"
    default_message = "A required parameter is missing."


class Unauthenticated(APIError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"
    # One body whatever the cause, so that a caller learns nothing about the credential.
    default_message = "Incorrect or missing API key or access token."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(APIError):
    status = 403
    type = "permission_error"
    code = "insufficient_permissions"
    default_message = "You do not have permission to perform this action."


class NotFound(APIError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"
    default_message = "The requested resource was not found."


class MethodNotAllowed(APIError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"
    default_message = "This method is not allowed on this route."


class NotAcceptable(APIError):
    status = 406
    type = "invalid_request_error"
    code = "not_acceptable"
    default_message = "The requested response format is not available."


class RequestTimeout(APIError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"
    default_message = "The request body did not arrive in time."


class Conflict(APIError):
    status = 409
    type = "invalid_request_error"
    code = "conflict"
    default_message = "The request conflicts with the current state of the resource."


class RequestTooLarge(APIError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"
    default_message = "The request body is larger than the server accepts."


class UnsupportedMediaType(APIError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"
    default_message = "The request body must be JSON (Content-Type: application/json)."


class RateLimited(APIError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    default_message = "Too many requests. Retry after the time given in Retry-After."

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))


class InsufficientQuota(APIError):
    """A budget is spent: OpenAI's 429 that no retry helps (x-should-retry: false)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"
    default_message = (
        "You exceeded your current quota, please check your plan and billing details."
    )

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("x-should-retry", "false")


class InternalError(APIError):
    pass


class UpstreamError(APIError):
    status = 502
    type = "server_error"
    code = "bad_upstream_response"
    default_message = "The upstream model server sent an invalid response."


class ServiceUnavailable(APIError):
    status = 503
    type = "server_error"
    code = "service_unavailable"
    default_message = "The service is temporarily unavailable. Retry shortly."

    def __init__(
        self, message: str | None = None, *, retry_after: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.headers["Retry-After"] = str(max(1, int(retry_after)))


class UpstreamTimeout(APIError):
    status = 504
    type = "server_error"
    code = "upstream_timeout"
    default_message = "The upstream model server did not answer in time."


_ERROR_FOR_STATUS: dict[int, type[APIError]] = {
    cls.status: cls
    for cls in (
        InvalidRequest,
        Unauthenticated,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        RequestTimeout,
        Conflict,
        RequestTooLarge,
        UnsupportedMediaType,
        RateLimited,
        InternalError,
        UpstreamError,
        ServiceUnavailable,
        UpstreamTimeout,
    )
}


def error_for_status(status: int) -> APIError:
    """Return the APIError that stands for a bare HTTP error status."""
    cls = _ERROR_FOR_STATUS.get(status)
    if cls is not None:
        return cls()
    if status >= 500:
        return InternalError()
    return InvalidRequest("The request could not be processed.", code="invalid_request")


def route_not_found(request: HttpRequest) -> NotFound:
    """Return the error for a request that matches no route."""
    return NotFound(f"No route matches {request.method} {request.path}.")


def error_response(error: APIError, status: int | None = None) -> JsonResponse:
    """Render an APIError as the JSON error body with its status and headers."""
    response = JsonResponse(error.body(), status=status or error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def _first_validation_error(detail: Any, path: str = "") -> tuple[str | None, str]:
    """Walk a DRF ValidationError detail to its first message and that field's path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's errors are keyed by index
                child = f"{path}[{key}]"
            elif key == api_settings.NON_FIELD_ERRORS_KEY:
                child = path
            else:
                child = key if not path else f"{path}.{key}"
            return _first_validation_error(value, child)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                return _first_validation_error(
                    value, f"{path}[{index}]" if path else str(index)
                )
            return _first_validation_error(value, path)
    return (path or None), str(detail)


def _from_drf_validation(exc: drf_exceptions.ValidationError) -> APIError:
    param, message = _first_validation_error(exc.detail)
    codes = exc.get_codes()
    first_code = _first_validation_error(codes)[1] if codes else ""
    if first_code == "required":
        return MissingParameter(message, param=param)
    return InvalidRequest(message, param=param)


def _from_django_validation(exc: django_exceptions.ValidationError) -> APIError:
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        param = None if field == django_exceptions.NON_FIELD_ERRORS else field
        return InvalidRequest(
            str(errors[0].message % (errors[0].params or {})), param=param
        )
    return InvalidRequest(exc.messages[0] if exc.messages else None)


# A database or Redis that cannot be reached (or gave up on a query mid-way): the
# client should retry shortly, as after any 503.
OUTAGE_RETRY_AFTER_SECONDS = 5


def _outage(exc: BaseException) -> APIError | None:
    if isinstance(exc, db_errors.OperationalError | db_errors.InterfaceError):
        logger.warning("Database unavailable: %s", exc)
        return ServiceUnavailable(
            "The database is unavailable. Retry shortly.",
            retry_after=OUTAGE_RETRY_AFTER_SECONDS,
        )
    if isinstance(
        exc, redis_exceptions.ConnectionError | redis_exceptions.TimeoutError
    ):
        logger.warning("Redis unavailable: %s", exc)
        return ServiceUnavailable(
            "The shared cache is unavailable. Retry shortly.",
            retry_after=OUTAGE_RETRY_AFTER_SECONDS,
        )
    return None


def api_error_from_exception(exc: BaseException) -> APIError | None:
    """Translate a known exception into an APIError; None for unexpected ones."""
    if isinstance(exc, APIError):
        return exc
    outage = _outage(exc)
    if outage is not None:
        return outage
    if isinstance(exc, drf_exceptions.ValidationError):
        return _from_drf_validation(exc)
    if isinstance(exc, django_exceptions.ValidationError):
        return _from_django_validation(exc)
    if isinstance(exc, drf_exceptions.ParseError):
        return InvalidJSON(
            f"We could not parse the JSON body of your request. {exc.detail}"
        )
    if isinstance(
        exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed
    ):
        return Unauthenticated()
    if isinstance(
        exc, drf_exceptions.PermissionDenied | django_exceptions.PermissionDenied
    ):
        return Forbidden()
    if isinstance(
        exc, drf_exceptions.NotFound | Http404 | django_exceptions.ObjectDoesNotExist
    ):
        return NotFound()
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf_exceptions.NotAcceptable):
        return NotAcceptable()
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return UnsupportedMediaType()
    if isinstance(exc, drf_exceptions.Throttled):
        return RateLimited(retry_after=int(getattr(exc, "wait", None) or 1))
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, django_exceptions.SuspiciousOperation):
        return InvalidRequest(
            "The request was rejected as malformed.", code="bad_request"
        )
    if isinstance(exc, drf_exceptions.APIException):
        error = error_for_status(exc.status_code)
        error.message = str(exc.detail) or error.message
        return error
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse | None:
    """DRF EXCEPTION_HANDLER: render known errors; let unexpected ones reach Django."""
    error = api_error_from_exception(exc)
    if error is None:
        return None
    return error_response(error)


def unhandled_error_response() -> JsonResponse:
    """Return the 500 body for an unexpected exception (log the details first)."""
    return error_response(InternalError())
