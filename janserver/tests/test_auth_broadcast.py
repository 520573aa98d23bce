"""Revocations reach every process: a running server learns of them within a second."""

import subprocess
import sys
import time

import httpx
import pytest
from django.conf import settings
from django.db import connection

from janserver.tests.live_server import (
    ROOT,
    free_port,
    running_server,
    server_env,
    uvicorn_command,
)
from orgs.services import api_key_create, api_key_revoke
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory

pytestmark = [
    pytest.mark.server,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="needs PostgreSQL shared with a server process, and Redis",
    ),
]


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def server():
    # A long TTL: only the broadcast can explain a revocation seen within a second.
    env = server_env(
        database_url(), REDIS_URL=settings.REDIS_URL, AUTH_CACHE_TTL_SECONDS="600"
    )
    port = free_port()
    with running_server(uvicorn_command(port), env, port) as base_url:
        yield base_url, env


def new_key():
    member = ProjectMemberFactory(project=ProjectFactory())
    project = member.project
    return api_key_create(
        kind="project",
        organization=project.organization,
        project=project,
        owner=member.user,
    )


def status(base_url: str, secret: str) -> int:
    headers = {"Authorization": f"Bearer {secret}"}
    return httpx.get(f"{base_url}/v1/models", headers=headers, timeout=5).status_code


def seconds_until_refused(base_url: str, secret: str, limit: float = 3.0) -> float:
    started = time.monotonic()
    while status(base_url, secret) != 401:
        if time.monotonic() - started > limit:
            return float("inf")
        time.sleep(0.02)
    return time.monotonic() - started


def test_revokeapikey_in_another_process_is_seen_within_a_second(server):
    base_url, env = server
    api_key, secret = new_key()
    assert status(base_url, secret) == 200
    assert status(base_url, secret) == 200  # warm: served from the server's cache
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "revokeapikey", api_key.public_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert seconds_until_refused(base_url, secret) < 1.0


def test_revocation_by_this_process_is_seen_by_the_server(server):
    """What the admin does in its own process is broadcast the same way."""
    base_url, _ = server
    api_key, secret = new_key()
    assert status(base_url, secret) == 200
    api_key_revoke(api_key=api_key)
    assert seconds_until_refused(base_url, secret) < 1.0
