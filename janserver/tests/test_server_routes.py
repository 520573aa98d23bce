"""Server routes: liveness, readiness, version, API schema."""

from unittest import mock

import pytest
from django.db import DatabaseError

import janserver
from janserver import views

pytestmark = pytest.mark.django_db


def test_healthcheck_answers_ok(client):
    response = client.get("/healthcheck")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_readyz_is_ready_with_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
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
