"""Django's error handlers, rendering the same JSON body as every other error."""

from django.http import HttpRequest, JsonResponse

from janserver.errors import (
    Forbidden,
    InvalidRequest,
    api_error_from_exception,
    error_response,
    route_not_found,
    unhandled_error_response,
)


def bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    error = api_error_from_exception(exception) if exception else None
    if error is None or error.status >= 500:
        error = InvalidRequest(
            "The request was rejected as malformed.", code="bad_request"
        )
    return error_response(error)


def permission_denied(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return error_response(Forbidden())


def page_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return error_response(route_not_found(request))


def server_error(request: HttpRequest) -> JsonResponse:
    return unhandled_error_response()
