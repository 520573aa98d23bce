"""Fixtures of the conversations tests: JSON clients for a key and for a login user."""

import json
from typing import Any

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory


class Api:
    """A Django test client speaking JSON to /v1 as one caller."""

    def __init__(self, credential: str, **headers: str) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {credential}", **headers}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get("/v1" + path, params or {}, headers=self.headers)

    def _send(self, method: str, path: str, body: Any) -> Any:
        send = getattr(self.client, method)
        data = json.dumps({} if body is None else body)
        return send(
            "/v1" + path, data, content_type="application/json", headers=self.headers
        )

    def post(self, path: str, body: Any = None) -> Any:
        return self._send("post", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._send("patch", path, body)

    def delete(self, path: str) -> Any:
        return self.client.delete("/v1" + path, headers=self.headers)


def key_api_for(project, user=None) -> Api:
    """A client with a new project key of `project` (owned by a member)."""
    user = user or UserFactory()
    ProjectMemberFactory(project=project, user=user)
    _, secret = api_key_create(
        kind="project", organization=project.organization, project=project, owner=user
    )
    return Api(secret)


def user_api_for(user, **headers: str) -> Api:
    return Api(tokens_issue(user=user).access, **headers)


@pytest.fixture
def key_api(project, user) -> Api:
    """A project key of `project` owned by `user`."""
    return key_api_for(project, user)


@pytest.fixture
def other_api(db) -> Api:
    """A project key of another organization's project, owned by another user."""
    return key_api_for(ProjectFactory())


@pytest.fixture
def user_api(user, default_org) -> Api:
    """`user`, signed in (no OpenAI-Project header)."""
    return user_api_for(user)
