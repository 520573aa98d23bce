"""Tenancy writes: organizations, memberships, projects, invites and API keys."""

from orgs.services.api_keys import (
    API_KEY_MAX_LENGTH,
    API_KEY_PREFIXES,
    api_key_create,
    api_key_hash,
    api_key_hint,
    api_key_revoke,
    api_key_verify,
    api_keys_mark_used,
)
from orgs.services.invites import INVITE_TTL, invite_create, invite_hash
from orgs.services.organizations import (
    organization_create,
    organization_default_ensure,
    organization_member_set,
    organization_owners_ensure,
)
from orgs.services.projects import (
    project_archive,
    project_create,
    project_member_set,
    project_personal_ensure,
)

__all__ = [
    "API_KEY_MAX_LENGTH",
    "API_KEY_PREFIXES",
    "INVITE_TTL",
    "api_key_create",
    "api_key_hash",
    "api_key_hint",
    "api_key_revoke",
    "api_key_verify",
    "api_keys_mark_used",
    "invite_create",
    "invite_hash",
    "organization_create",
    "organization_default_ensure",
    "organization_member_set",
    "organization_owners_ensure",
    "project_archive",
    "project_create",
    "project_member_set",
    "project_personal_ensure",
]
