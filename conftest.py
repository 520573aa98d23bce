"""Shared pytest fixtures."""

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from accounts.tests.factories import SuperUserFactory, UserFactory
from inference import upstream
from janserver.tests.live_server import free_port
from orgs.models import Organization
from orgs.services import api_key_create, organization_default_ensure
from orgs.tests.factories import (
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

# The end-to-end fixtures (fake vLLM upstream, live provider and key).
pytest_plugins = ["inference.testing.fixtures"]


@pytest.fixture
def default_org(db) -> Organization:
    return organization_default_ensure()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def superuser(db):
    return SuperUserFactory()


@pytest.fixture
def admin_client(client, superuser):
    """A Django test client logged in to the admin as a superuser."""
    client.force_login(superuser)
    return client


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def project(organization):
    return ProjectFactory(organization=organization)


@pytest.fixture
def project_key(project, user):
    """A (key, secret) pair for a project key owned by `user`, a member of `project`."""
    ProjectMemberFactory(project=project, user=user, role="member")
    return api_key_create(
        kind="project", organization=project.organization, project=project, owner=user
    )


@pytest.fixture
def admin_key(organization, user):
    """A (key, secret) pair for an admin key of `organization` owned by `user`, an owner."""
    OrganizationMemberFactory(organization=organization, user=user, role="owner")
    return api_key_create(kind="admin", organization=organization, owner=user)


@pytest.fixture
def org_owner(organization):
    """A user who owns `organization`."""
    return OrganizationMemberFactory(organization=organization, role="owner").user


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    """A real ASGI server (uvicorn) on 127.0.0.1, for the whole session."""
    from janserver.asgi import application

    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        await server.serve()
        await upstream.aclose()  # the aiohttp session of this server's event loop

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    yield base
    server.should_exit = True
    thread.join(timeout=10)
