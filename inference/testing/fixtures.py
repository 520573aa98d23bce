"""Pytest fixtures for end-to-end tests: a real gateway and a real fake vLLM upstream.

Loaded for every test package through `pytest_plugins` in the root conftest.py:
`fake` (session-wide fake upstream), `clean_state`, `live` (a provider on the fake and
a project key, with `Live` helpers), and `make_provider` for tests that need more.

The gateway is uvicorn serving janserver.asgi in a background thread of the test
process, over the test database (transactional tests, so its threads see the rows).
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from inference import catalog, usage
from inference.models import Provider, ProviderModel
from inference.testing.fake_vllm import FakeVLLM, run_in_thread
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory

MODEL = "jan-v1-4b"


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeVLLM]:
    with run_in_thread(models=(MODEL, "other-model")) as server:
        yield server


@pytest.fixture
def clean_state(settings):
    """Hold the usage flusher back, and forget it and its queue after the test.

    Tests flush explicitly, so that only one thread writes to the test database at a
    time. (The root conftest resets the other per-process state of every test.)
    """
    settings.USAGE_FLUSH_SECONDS = 3600
    settings.USAGE_FLUSH_BATCH = 1_000_000
    yield
    usage.reset_for_tests()


def make_provider(
    base_url: str, name: str = "Jan", models=(MODEL,), **fields
) -> Provider:
    provider = Provider.objects.create(name=name, base_url=base_url, **fields)
    for model_id in models:
        ProviderModel.objects.create(
            provider=provider, model_id=model_id, context_length=4096
        )
    catalog.refresh()
    return provider


@pytest.fixture
def live(
    django_db_serialized_rollback, transactional_db, clean_state, fake, gateway_url
):
    """A provider on the fake upstream and a project key; returns a small namespace."""
    return live_on(gateway_url, make_provider(fake.base_url), fake)


def live_on(gateway_url: str, provider: Provider, fake: FakeVLLM | None) -> "Live":
    """A project key of a new project, for calls through `provider` (in the catalog)."""
    member: Any = ProjectMemberFactory(project=ProjectFactory())
    _, secret = api_key_create(
        kind="project",
        organization=member.project.organization,
        project=member.project,
        owner=member.user,
    )
    return Live(gateway_url, secret, fake, provider, member.project)


class Live:
    def __init__(self, url, secret, fake, provider, project):
        self.url, self.secret, self.fake = url, secret, fake
        self.provider, self.project = provider, project

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    def post(self, path: str, body: dict, **kwargs) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}", json=body, headers=self.headers, timeout=30, **kwargs
        )

    def openai(self, **kwargs):
        import openai

        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key=self.secret, max_retries=0, **kwargs
        )
