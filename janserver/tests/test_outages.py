"""A database or Redis that cannot be reached: a quick 503 with Retry-After, never a 500."""

import pytest
from django.db import OperationalError
from django.test import Client

from janserver.errors import ServiceUnavailable, api_error_from_exception
from orgs import selectors

UNAVAILABLE = {
    "type": "server_error",
    "param": None,
    "code": "service_unavailable",
}


def test_outages_map_to_503_with_retry_after():
    import redis

    for exc, message in [
        (
            OperationalError("connection refused"),
            "The database is unavailable. Retry shortly.",
        ),
        (
            redis.ConnectionError("refused"),
            "The shared cache is unavailable. Retry shortly.",
        ),
        (redis.TimeoutError("slow"), "The shared cache is unavailable. Retry shortly."),
    ]:
        error = api_error_from_exception(exc)
        assert isinstance(error, ServiceUnavailable)
        assert (error.status, error.message) == (503, message)
        assert error.headers["Retry-After"] == "5"


@pytest.mark.django_db
def test_an_unreachable_database_answers_503_on_an_authenticated_route(
    client, monkeypatch
):
    """The credential's lookup fails: 503, not a 500 after the pool's timeout."""

    def unreachable(**kwargs: object) -> None:
        raise OperationalError("connection to server failed")

    monkeypatch.setattr(selectors, "api_key_usable_get", unreachable)
    response = client.get(
        "/v1/models", headers={"Authorization": "Bearer sk-project_" + "x" * 40}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "message": "The database is unavailable. Retry shortly.",
            **UNAVAILABLE,
        }
    }


@pytest.mark.django_db
def test_guest_login_with_redis_down_answers_503(settings):
    """The login throttle lives in the shared cache: Redis down is a 503."""
    settings.CACHES = {
        "default": {
            "BACKEND": "janserver.redis_cache.SharedPoolRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = Client().post("/v1/auth/guest-login")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"] == {
        "message": "The shared cache is unavailable. Retry shortly.",
        **UNAVAILABLE,
    }
