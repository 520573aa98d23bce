"""Shared pytest fixtures."""

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import uvicorn
from django.core import serializers
from django.db import connection, transaction
from django.db.backends.base.creation import BaseDatabaseCreation
from pytest_django.plugin import blocking_manager_key

from accounts.tests.factories import SuperUserFactory, UserFactory
from inference import catalog, routing, upstream
from janserver import auth, auth_cache
from janserver.tests.live_server import free_port, migrated_copy
from limits import admission
from orgs.models import Organization
from orgs.services import api_key_create, organization_default_ensure
from orgs.tests.factories import (
    OrganizationFactory,
    OrganizationMemberFactory,
    ProjectFactory,
    ProjectMemberFactory,
)

# The end-to-end fixtures (fake vLLM upstream, live provider and key, the fake Serper and
# MCP servers), and the upstreams of the upstream suite (the fake, the local llama.cpp
# model, JANSERVER_UPSTREAM_URL).
pytest_plugins = [
    "inference.testing.fixtures",
    "inference.testing.upstreams",
    "tools.testing.fixtures",
]


def _deserialize_in_bulk(creation: BaseDatabaseCreation, data: str) -> None:
    """BaseDatabaseCreation.deserialize_db_from_string with one INSERT per model
    instead of one save() per object: what a transactional test with
    serialized_rollback restores before it runs (~130 rows; 0.1 s a test saved)."""
    alias = creation.connection.alias
    by_model: dict[type, list] = {}
    with transaction.atomic(using=alias):
        with creation.connection.constraint_checks_disabled():
            for obj in serializers.deserialize("json", StringIO(data), using=alias):
                if obj.m2m_data:  # none in the baseline; saved as Django does
                    obj.save()
                else:
                    by_model.setdefault(type(obj.object), []).append(obj.object)
            # Rows still there (the database was not flushed yet) are kept, as
            # save() would have updated them to the same values.
            for model, objects in by_model.items():
                model._base_manager.using(alias).bulk_create(
                    objects, ignore_conflicts=True
                )
        creation.connection.check_constraints(
            table_names=[model._meta.db_table for model in by_model]
        )


# What a process keeps between requests, forgotten before and after every test.
PROCESS_STATE_RESETS = (
    auth.reset_for_tests,
    auth_cache.reset_for_tests,
    catalog.reset_for_tests,
    routing.reset_for_tests,
    admission.reset_for_tests,
)


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Every test starts without the cached credentials, catalog and provider health
    that an earlier test left in this process."""
    for reset in PROCESS_STATE_RESETS:
        reset()
    yield
    for reset in PROCESS_STATE_RESETS:
        reset()


@pytest.fixture(scope="session", autouse=True)
def _fast_serialized_rollback() -> Iterator[None]:
    with mock.patch.object(
        BaseDatabaseCreation, "deserialize_db_from_string", _deserialize_in_bulk
    ):
        yield


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    return "transactional_db" in getattr(item, "fixturenames", ()) or (
        marker is not None and marker.kwargs.get("transaction", False)
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """A transactional test ends with the database flushed; put the rows Django
    serialized after the migrations (the default organization, content types) back
    at once, after every fixture's teardown, so that the tests after it (in whatever
    order pytest-xdist runs them, and the next run with --reuse-db) find them.

    Before any fixture's teardown, the live gateway's background work still running
    (a tool call's ledger row, a disconnected stream's turn) gets a bounded wait: its
    writes would otherwise race the database flush of a transactional test (a
    deadlock on PostgreSQL)."""
    if _transactional(item):
        _wait_for_background_work()
    yield
    if nextitem is None:  # the last test: _baseline_at_exit restores it
        return
    _restore_baseline(item.config, _transactional(item))


def _wait_for_background_work(polls: int = 400) -> None:
    from janserver import background

    for _ in range(polls):  # at most ~10 s: a hang guard, not a timing assertion
        if background.running() == 0:
            return
        time.sleep(0.025)


def _restore_baseline(config: pytest.Config, flushed: bool) -> None:
    baseline = getattr(connection, "_test_serialized_contents", None)
    if baseline and flushed:
        with config.stash[blocking_manager_key].unblock():
            connection.creation.deserialize_db_from_string(baseline)


@pytest.fixture(scope="session", autouse=True)
def _baseline_at_exit(request, django_db_setup) -> Iterator[None]:
    """After the last test (often a transactional one, which pytest-django runs
    last) and before the test database is closed: put the baseline back, so that
    the next run with --reuse-db serializes it again."""
    yield
    _restore_baseline(request.config, True)


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


@pytest.fixture
def migrated_sqlite(tmp_path, tmp_path_factory) -> Path:
    """A migrated SQLite database file of this test's own, for servers and commands run
    as subprocesses: a copy of one migrated per test run (pytest-xdist's processes
    share the directory above their own temporary directories)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    return migrated_copy(shared, tmp_path / "db.sqlite3")


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
