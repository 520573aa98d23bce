"""End to end over real sockets: uvicorn serving janserver.asgi on 127.0.0.1."""

import json
import sqlite3
import sys

import httpx
import pytest

from janserver.tests.live_server import (
    free_port,
    manage,
    running_server,
    server_env,
    uvicorn_command,
)

pytestmark = pytest.mark.server

BODY_CAP = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A uvicorn server with a 4 KiB body cap (the routes used here need no tables)."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'server.sqlite3'}"
    env = server_env(database_url, DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE=str(BODY_CAP))
    port = free_port()
    with running_server(uvicorn_command(port), env, port) as base_url:
        yield base_url, env


def chunks(total: int, size: int = 1000):
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b" " * piece
        sent += piece


def test_healthcheck_and_request_id_over_a_real_socket(server):
    base_url, _ = server
    response = httpx.get(f"{base_url}/healthcheck")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == "ok"
    assert response.headers["x-request-id"].startswith("req_")


def test_readyz_turns_ready_once_migrations_are_applied(tmp_path):
    """A fresh database is not ready (503 migrations) until `migrate` has run."""
    env = server_env(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    port = free_port()
    with running_server(uvicorn_command(port), env, port) as base_url:
        before = httpx.get(f"{base_url}/readyz")
        assert before.status_code == 503
        assert before.json()["failed_check"] == "migrations"
        assert manage(env, "migrate", "--no-input").returncode == 0
        after = httpx.get(f"{base_url}/readyz")
        assert after.status_code == 200


def test_readyz_is_503_while_the_configured_redis_is_unreachable(tmp_path):
    """With REDIS_URL naming a port where nothing listens, the gateway is alive
    (/healthz "ok") but not ready (/v1/readyz 503, failed check redis)."""
    env = server_env(
        f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    assert manage(env, "migrate", "--no-input").returncode == 0
    port = free_port()
    with running_server(uvicorn_command(port), env, port) as base_url:
        assert httpx.get(f"{base_url}/healthz").json() == "ok"
        response = httpx.get(f"{base_url}/v1/readyz", timeout=10)
    assert response.status_code == 503
    assert response.json()["failed_check"] == "redis"
    assert response.json()["error"]["code"] == "service_unavailable"


def test_chunked_json_body_reaches_the_view(server):
    """A chunked body (no Content-Length) is delivered whole, not read as empty."""
    base_url, _ = server
    payload = json.dumps({"name": "chunked", "count": 3}).encode()
    response = httpx.post(
        f"{base_url}/test/echo",
        content=iter([payload[:10], payload[10:]]),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"name": "chunked", "count": 3}


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_the_cap_is_413_with_or_without_content_length(server, chunked):
    base_url, _ = server
    content = chunks(BODY_CAP * 3) if chunked else b" " * (BODY_CAP * 3)
    response = httpx.post(
        f"{base_url}/test/echo",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["x-request-id"].startswith("req_")
    assert response.json() == {
        "error": {
            "message": f"The request body is larger than {BODY_CAP} bytes.",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_too_large",
        }
    }


def test_malformed_json_over_a_real_socket(server):
    base_url, _ = server
    response = httpx.post(
        f"{base_url}/test/echo",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_route_over_a_real_socket(server):
    base_url, _ = server
    response = httpx.delete(f"{base_url}/v1/unknown")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_logs_are_json_lines_with_the_request_id_and_no_credentials(tmp_path):
    """Access and error logs are JSON with the request id; tokens and cookies never appear."""
    log_path = tmp_path / "server.log"
    env = server_env(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    port = free_port()
    secret_headers = {
        "Authorization": "Bearer sk-project_leakcheck123",
        "Cookie": "sessionid=cookieleak456",
    }
    with running_server(uvicorn_command(port), env, port, log_path) as base_url:
        response = httpx.get(f"{base_url}/test/crash", headers=secret_headers)
        assert response.status_code == 500
        request_id = response.headers["x-request-id"]
    text = log_path.read_text()
    assert "leakcheck123" not in text
    assert "cookieleak456" not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    mine = [r for r in records if r.get("request_id") == request_id]
    assert {r["logger"] for r in mine} >= {"janserver.access", "janserver.errors"}
    access = next(r for r in mine if r["logger"] == "janserver.access")
    assert access["status"] == 500
    assert access["path"] == "/test/crash"
    crash = next(r for r in mine if r["logger"] == "janserver.errors")
    assert "secret internals" in crash["exc_info"]


def test_gunicorn_config_serves_with_uvicorn_workers_and_bootstraps(migrated_sqlite):
    """`gunicorn -c gunicorn.conf.py` serves ASGI and makes ORGANIZATION_ADMIN_EMAILS owners."""
    database = migrated_sqlite
    port = free_port()
    env = server_env(
        f"sqlite:///{database}",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
        ORGANIZATION_ADMIN_EMAILS="ops@example.com",
    )
    assert manage(env, "migrate", "--no-input").returncode == 0
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    with running_server(command, env, port) as base_url:
        response = httpx.get(f"{base_url}/v1/version")
        assert response.status_code == 200
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT u.email, m.role FROM orgs_organizationmember m "
            "JOIN accounts_user u ON u.id = m.user_id "
            "JOIN orgs_organization o ON o.id = m.organization_id WHERE o.is_default"
        ).fetchall()
    assert rows == [("ops@example.com", "owner")]
