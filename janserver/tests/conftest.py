"""Fixtures of janserver's tests: a client as an owner of the default organization."""

import pytest
from django.test import Client

from accounts.services import user_register
from accounts.tokens import tokens_issue
from orgs.models import OrganizationMember, Project
from orgs.services import organization_default_ensure


@pytest.fixture
def owner_client(db):
    """A client signed in as an owner, and the ids of a conversation, a workspace,
    a project and that owner, for routes that name them."""
    organization = organization_default_ensure()
    owner = user_register(email="owner@example.com")
    OrganizationMember.objects.filter(user=owner).update(role="owner")
    token = tokens_issue(user=owner).access
    client = Client(headers={"Authorization": f"Bearer {token}"})
    conversation = client.post(
        "/v1/conversations", {"title": "kept"}, content_type="application/json"
    ).json()
    workspace = client.post(
        "/v1/conv/workspaces", {"name": "kept"}, content_type="application/json"
    ).json()
    ids = {
        "conv": conversation["id"],
        "ws": workspace["id"],
        "proj": Project.objects.get(organization=organization).public_id,
        "user": owner.public_id,
    }
    return client, ids
