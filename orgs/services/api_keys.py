"""API key writes: create (secret shown once), revoke, verify."""

import hashlib
import hmac
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from janserver import auth_cache
from janserver.errors import Forbidden, InvalidRequest, Unauthenticated
from janserver.ids import random_string
from orgs.models import (
    ApiKey,
    ApiKeyKind,
    Organization,
    OrganizationRole,
    Project,
)
from orgs.selectors import api_key_usable_get, organization_role_get, project_role_get

API_KEY_PREFIXES = {ApiKeyKind.ADMIN: "sk-admin_", ApiKeyKind.PROJECT: "sk-project_"}
API_KEY_RANDOM_LENGTH = 48  # [0-9a-z]: about 248 bits
API_KEY_MAX_LENGTH = 128


def api_key_hash(secret: str) -> str:
    """Return the hex HMAC-SHA256 of a key under APIKEY_SECRET: the only form stored."""
    return hmac.new(
        settings.APIKEY_SECRET.encode(), secret.encode(), hashlib.sha256
    ).hexdigest()


def api_key_hint(secret: str) -> str:
    return f"sk-…{secret[-4:]}"


def _api_key_owner_check(
    *, kind: str, organization: Organization, project: Project | None, owner: User
) -> None:
    """Admin keys belong to organization owners; project keys to project members or org owners."""
    is_org_owner = (
        organization_role_get(organization=organization, user=owner)
        == OrganizationRole.OWNER
    )
    if kind == ApiKeyKind.ADMIN and not is_org_owner:
        raise Forbidden(
            f"{owner.email} is not an owner of organization {organization.public_id}; "
            "admin keys belong to organization owners.",
            param="owner",
        )
    if (
        kind == ApiKeyKind.PROJECT
        and project is not None
        and not is_org_owner
        and project_role_get(project=project, user=owner) is None
    ):
        raise Forbidden(
            f"{owner.email} is neither a member of project {project.public_id} "
            f"nor an owner of organization {organization.public_id}.",
            param="owner",
        )


def _api_key_new_secret(kind: str) -> str:
    return API_KEY_PREFIXES[ApiKeyKind(kind)] + random_string(API_KEY_RANDOM_LENGTH)


@transaction.atomic
def api_key_create(
    *,
    kind: str,
    organization: Organization,
    owner: User,
    project: Project | None = None,
    name: str = "",
    description: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is never available again."""
    if kind not in ApiKeyKind.values:
        raise InvalidRequest(
            f"Unknown key kind {kind!r}; use admin or project.", param="kind"
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidRequest("The expiry must be in the future.", param="expires_at")
    if project is not None and project.is_archived:
        raise InvalidRequest("The project is archived.", param="project")
    _api_key_owner_check(
        kind=kind, organization=organization, project=project, owner=owner
    )
    secret = _api_key_new_secret(kind)
    api_key = ApiKey(
        kind=kind,
        organization=organization,
        project=project,
        owner=owner,
        name=name.strip(),
        description=description.strip(),
        expires_at=expires_at,
        key_hash=api_key_hash(secret),
        hint=api_key_hint(secret),
    )
    api_key.full_clean(exclude=["key_hash", "hint"])
    api_key.save()
    return api_key, secret


@transaction.atomic
def admin_api_key_create(
    *,
    organization: Organization,
    owner: User,
    name: str,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an admin key of `organization` for `owner` (an owner) and return its secret."""
    return api_key_create(
        kind=ApiKeyKind.ADMIN,
        organization=organization,
        owner=owner,
        name=name,
        expires_at=expires_at,
    )


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key (a soft delete; idempotent, the first revocation time is kept).

    The key stops authenticating at once: its cached principal is dropped everywhere.
    """
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    auth_cache.invalidate("key", api_key.key_hash)
    return api_key


@transaction.atomic
def api_keys_revoke(*, keys: QuerySet[ApiKey]) -> int:
    """Revoke every unrevoked key of `keys` in one update; return how many."""
    doomed = list(keys.filter(revoked_at__isnull=True).values_list("pk", "key_hash"))
    ApiKey.objects.filter(pk__in=[pk for pk, _ in doomed]).update(
        revoked_at=timezone.now()
    )
    for _, key_hash in doomed:
        auth_cache.invalidate("key", key_hash)
    return len(doomed)


def api_key_verify(*, secret: str) -> ApiKey:
    """Return the usable key whose secret this is; raise Unauthenticated otherwise.

    Rejects malformed, unknown, disabled, revoked and expired keys, keys of inactive
    owners and keys of archived projects, all with the same error.
    """
    if (
        not secret
        or len(secret) > API_KEY_MAX_LENGTH
        or not secret.startswith(tuple(API_KEY_PREFIXES.values()))
    ):
        raise Unauthenticated()
    digest = api_key_hash(secret)
    api_key = api_key_usable_get(key_hash=digest)
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        raise Unauthenticated()
    return api_key


def api_keys_mark_used(*, used: dict[int, datetime]) -> None:
    """Record when keys were last used, in one batch (coarse: callers batch per minute)."""
    keys = [ApiKey(pk=key_id, last_used_at=when) for key_id, when in used.items()]
    ApiKey.objects.bulk_update(keys, ["last_used_at"], batch_size=500)
