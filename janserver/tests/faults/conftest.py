"""Fixtures of the fault suite: a gateway subprocess over this test's database, a
provider on the fake vLLM and a project key, and the services each test breaks."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from inference.testing.fixtures import make_provider
from janserver.tests.faults.support import Tenant
from janserver.tests.live_server import (
    ServerProcess,
    free_port,
    running_process,
    server_env,
    uvicorn_command,
)
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory


@pytest.fixture
def tenant(
    django_db_serialized_rollback, transactional_db, clean_state, fake
) -> Callable[..., Tenant]:
    """Make a provider (on the session's fake vLLM unless a base URL is given) and a
    project key, committed: a gateway in another process sees them."""

    def make(base_url: str | None = None) -> Tenant:
        provider = make_provider(base_url or fake.base_url)
        member: Any = ProjectMemberFactory(project=ProjectFactory())
        _, secret = api_key_create(
            kind="project",
            organization=member.project.organization,
            project=member.project,
            owner=member.user,
        )
        return Tenant(secret, member.project, provider)

    return make


GatewayStarter = Callable[..., AbstractContextManager[ServerProcess]]


@pytest.fixture
def gateway(tmp_path: Path) -> GatewayStarter:
    """Start `uvicorn janserver.asgi:application` in a subprocess: gateway(db_url,
    **env) is a context manager yielding the process (base_url set; its output in
    tmp_path / "gateway.log"). REDIS_URL is unset unless given."""

    @contextmanager
    def start(db_url: str, **extra: str) -> Iterator[ServerProcess]:
        port = free_port()
        env = server_env(db_url, **{"REDIS_URL": "", **extra})
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = tmp_path / "gateway.log"
        with running_process(uvicorn_command(port), env, port, log) as process:
            yield process

    return start
