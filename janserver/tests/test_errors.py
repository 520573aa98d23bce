"""The error contract: every 4xx/5xx is one OpenAI-style JSON body with a request id."""

import json

import pytest
from django.test import override_settings

pytestmark = [pytest.mark.urls("janserver.tests.urls"), pytest.mark.django_db]


def error(message, type_, code, param=None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def test_unknown_route_is_a_json_404(client):
    """An unknown route answers 404 with the error body, not an HTML page."""
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == error(
        "No route matches GET /v1/nope.", "invalid_request_error", "not_found"
    )


@override_settings(DEBUG=True)
def test_unknown_route_is_json_even_in_debug(client):
    """DEBUG's technical 404 page is replaced by the contract outside the admin."""
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json() == error(
        "No route matches GET /v1/nope.", "invalid_request_error", "not_found"
    )


def test_wrong_method_on_a_django_view_is_a_json_405(client):
    response = client.post("/healthcheck")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json() == error(
        "This method is not allowed on this route.",
        "invalid_request_error",
        "method_not_allowed",
    )


def test_wrong_method_on_a_drf_view_is_a_json_405(client):
    response = client.get("/test/echo")
    assert response.status_code == 405
    assert response.json() == error(
        'Method "GET" not allowed.', "invalid_request_error", "method_not_allowed"
    )


def test_malformed_json_is_a_400_invalid_json(client):
    response = client.post(
        "/test/echo", data='{"name": ', content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["type"] == "invalid_request_error"
    assert body["code"] == "invalid_json"
    assert body["message"]


@pytest.mark.parametrize(
    ("payload", "param", "code", "message"),
    [
        ({"count": 1}, "name", "missing_required_parameter", "This field is required."),
        (
            {"name": "x", "count": "many"},
            "count",
            "invalid_value",
            "A valid integer is required.",
        ),
        (
            {"name": "x" * 11, "count": 1},
            "name",
            "invalid_value",
            "Ensure this field has no more than 10 characters.",
        ),
        (
            {"name": "x", "count": -1},
            "count",
            "invalid_value",
            "Ensure this value is greater than or equal to 0.",
        ),
        (
            {"name": "x", "count": 1, "tags": ["ok", "toolong"]},
            "tags[1]",
            "invalid_value",
            "Ensure this field has no more than 3 characters.",
        ),
        (
            [],
            None,
            "invalid_value",
            "Invalid data. Expected a dictionary, but got list.",
        ),
    ],
)
def test_validation_errors_name_the_first_bad_field(
    client, payload, param, code, message
):
    """A DRF validation error becomes invalid_request_error with `param` set to the field path."""
    response = client.post(
        "/test/echo", data=json.dumps(payload), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == error(message, "invalid_request_error", code, param)


def test_non_json_content_type_is_a_415(client):
    response = client.post(
        "/test/echo", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_api_errors_raised_in_drf_views_keep_status_and_message(client):
    response = client.post("/test/conflict")
    assert response.status_code == 409
    assert response.json() == error(
        "Already running.", "invalid_request_error", "conflict"
    )


async def test_api_errors_raised_in_async_views_keep_status_and_message(async_client):
    response = await async_client.get("/test/aconflict")
    assert response.status_code == 409
    assert response.json() == error(
        "Async conflict.", "invalid_request_error", "conflict"
    )


@pytest.mark.parametrize("route", ["/test/crash", "/test/acrash"])
def test_unhandled_exception_is_a_500_without_details(client, route, caplog):
    """A crash answers a generic 500; the details go to the log only."""
    client.raise_request_exception = False
    response = client.get(route)
    assert response.status_code == 500
    assert response.json() == error(
        "The server had an error while processing the request.",
        "server_error",
        "internal_error",
    )
    assert "internals" not in response.content.decode()
    assert "internals" in caplog.text


def test_body_over_the_cap_is_a_413_before_the_view_runs(client, settings):
    """Content-Length above DATA_UPLOAD_MAX_MEMORY_SIZE answers 413 with the error body."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post(
        "/test/echo", data="x" * 2048, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json() == error(
        "The request body is larger than 1024 bytes.",
        "invalid_request_error",
        "request_too_large",
    )


@pytest.mark.parametrize(
    "route", ["/healthcheck", "/v1/nope", "/test/crash", "/test/echo"]
)
def test_every_response_has_a_request_id(client, route):
    client.raise_request_exception = False
    response = client.get(route)
    assert response["X-Request-ID"].startswith("req_")


def test_request_ids_are_unique_and_not_taken_from_the_client(client):
    first = client.get("/healthcheck", headers={"X-Request-ID": "client-chosen"})
    second = client.get("/healthcheck")
    assert first["X-Request-ID"] != "client-chosen"
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_admin_keeps_its_html_pages(client):
    """Browser pages under /admin/ are not rewritten into JSON."""
    response = client.get("/admin/")
    assert response.status_code == 302
