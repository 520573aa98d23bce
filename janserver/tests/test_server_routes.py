"""Server routes: liveness, readiness, version, API schema."""

from unittest import mock

import pytest
import redis
from django.db import DatabaseError

import janserver
from janserver import views

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/healthcheck", "/healthz", "/v1/healthz"])
def test_liveness_answers_the_json_string_ok(client, path):
    """As Jan answers: the JSON string "ok", under each of its names."""
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == b'"ok"'
    assert response.json() == "ok"


@pytest.mark.parametrize("path", ["/readyz", "/v1/readyz"])
def test_readyz_is_ready_with_a_migrated_database(client, path, settings):
    settings.REDIS_URL = ""
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }


def test_readyz_checks_redis_when_it_is_configured(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    with mock.patch("janserver.views.cache") as cache:
        cache.get.return_value = None
        response = client.get("/v1/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
    }


@pytest.mark.parametrize("path", ["/readyz", "/v1/readyz"])
def test_readyz_is_503_when_redis_is_unreachable(client, settings, path):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    with mock.patch("janserver.views.cache") as cache:
        cache.get.side_effect = redis.ConnectionError("refused at redis-internal")
        response = client.get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": {
            "message": "Redis (REDIS_URL) is unreachable.",
            "type": "server_error",
            "param": None,
            "code": "service_unavailable",
        },
        "status": "not_ready",
        "failed_check": "redis",
    }


def test_readyz_is_503_when_the_database_is_down(client):
    with mock.patch("janserver.views.connections") as connections:
        connections.__getitem__.return_value.cursor.side_effect = DatabaseError(
            "boom at db-internal"
        )
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["failed_check"] == "database"
    assert body["error"] == {
        "message": "The database is unreachable.",
        "type": "server_error",
        "param": None,
        "code": "service_unavailable",
    }
    assert "db-internal" not in response.content.decode()


def test_readyz_is_503_while_migrations_are_unapplied(client, monkeypatch):
    monkeypatch.setattr(views, "_migrations_applied", False)
    with mock.patch("janserver.views.MigrationExecutor") as executor:
        executor.return_value.migration_plan.return_value = [("orgs", "0099_future")]
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed_check"] == "migrations"


def test_version_has_jans_shape(client):
    body = client.get("/v1/version").json()
    assert body["version"] == janserver.__version__
    assert body["env_reloaded_at"].endswith("Z")


def test_openapi_schema_and_swagger_ui_are_served(client):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "janserver API"
    swagger = client.get("/api/swagger/")
    assert swagger.status_code == 200
    assert b"swagger-ui" in swagger.content


def test_swagger_ui_is_served_where_jan_serves_it(client):
    """/api/swagger/index.html (Jan's swaggo path) is the same UI over /api/schema/."""
    response = client.get("/api/swagger/index.html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "/api/schema/" in page


def test_the_admin_is_titled_for_janserver(client):
    page = client.get("/admin/login/").content.decode()
    assert "<title>Log in | janserver admin</title>" in page
    assert "janserver administration" in page
    assert "Django administration" not in page


def test_the_admin_index_is_titled_for_janserver(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert (
        "<title>Organizations, users, keys and models | janserver admin</title>" in page
    )
    assert "janserver administration" in page


def test_readyz_reaches_the_configured_redis(client, settings):
    """Against a real Redis (CI runs with REDIS_URL), readiness reports it answering."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (CI runs with Redis)")
    response = client.get("/v1/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"
