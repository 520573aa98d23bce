"""Authentication: Bearer API keys and access JWTs resolved to a Principal, sync and async.

An API key may come in `X-API-Key` instead (Jan's clients send it there); a Bearer
credential wins when both are present.

A warm request does no database query: principals come from the per-process cache in
janserver.auth_cache, which every change to a key, user or session invalidates.
"""

import asyncio
import functools
import math
import threading
import time
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, permissions
from rest_framework.request import Request

from accounts.models import LoginSession, User
from janserver import auth_cache, db
from janserver.errors import Forbidden, RateLimited, Unauthenticated
from janserver.principal import Principal, PrincipalKind
from janserver.throttling import CredentialFailures, rate_parse

USER_FIELDS = (
    "id",
    "public_id",
    "email",
    "name",
    "is_guest",
    "is_active",
    "is_staff",
    "is_superuser",
    "date_joined",
)
KEY_PREFIX = "sk-"
API_KEY_HEADER = "X-API-Key"


def principal_user(principal: Principal) -> User:
    """Return a fresh User instance of the caller (never shared between requests)."""
    names, order = _user_field_order()
    return User.from_db("default", names, [principal.user_values[i] for i in order])


@functools.cache
def _user_field_order() -> tuple[list[str], list[int]]:
    """USER_FIELDS in the model's field order (what from_db() expects), and where each
    one is in USER_FIELDS."""
    names = [f.attname for f in User._meta.concrete_fields if f.attname in USER_FIELDS]
    return names, [USER_FIELDS.index(name) for name in names]


def _user_values(user: User) -> tuple[Any, ...]:
    return tuple(getattr(user, field) for field in USER_FIELDS)


def _load_key_principal(key_hash: str) -> Principal | None:
    from orgs.models import ApiKeyKind
    from orgs.selectors import api_key_usable_get

    api_key = api_key_usable_get(key_hash=key_hash)
    if api_key is None:
        return None
    return Principal(
        kind=PrincipalKind.ADMIN_KEY
        if api_key.kind == ApiKeyKind.ADMIN
        else PrincipalKind.PROJECT_KEY,
        user_values=_user_values(api_key.owner),
        organization_id=api_key.organization_id,
        organization_public_id=api_key.organization.public_id,
        project_id=api_key.project_id,
        project_public_id=api_key.project.public_id if api_key.project else None,
        api_key_id=api_key.pk,
        api_key_public_id=api_key.public_id,
        expires_at=api_key.expires_at,
    )


def _load_user_principal(public_id: str) -> Principal | None:
    from orgs.models import OrganizationMember, ProjectMember, ProjectStatus

    user = User.objects.filter(public_id=public_id, is_active=True).first()
    if user is None:
        return None
    organizations = OrganizationMember.objects.filter(user=user)
    projects = ProjectMember.objects.filter(
        user=user, project__status=ProjectStatus.ACTIVE
    )
    return Principal(
        kind=PrincipalKind.USER,
        user_values=_user_values(user),
        member_organization_ids=tuple(
            organizations.values_list("organization_id", flat=True)
        ),
        member_project_ids=tuple(projects.values_list("project_id", flat=True)),
    )


def _load_session_open(family: str) -> bool:
    return LoginSession.objects.filter(family=family, revoked_at__isnull=True).exists()


class _Pending:
    """Lookups that missed the cache and must reach the database."""

    def __init__(self, kind: str, value: str, load: Any) -> None:
        self.kind, self.value, self.load = kind, value, load


def _cached(kind: str, value: str, load: Any) -> Any:
    hit = auth_cache.cache().get((kind, value))
    return _Pending(kind, value, load) if hit is auth_cache.MISSING else hit


def _fill(pending: _Pending) -> Any:
    result = pending.load(pending.value)
    auth_cache.cache().set((pending.kind, pending.value), result)
    return result


def _api_key_principal(secret: str) -> Any:
    from orgs.services import API_KEY_MAX_LENGTH, api_key_hash

    if len(secret) > API_KEY_MAX_LENGTH:
        raise Unauthenticated()
    return _cached("key", api_key_hash(secret), _load_key_principal)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthenticated()
    return credential.strip()


def _credential(request: HttpRequest) -> str | None:
    """The request's credential: `Authorization: Bearer …`, else an API key in
    X-API-Key (never a login token there); None when it carries neither."""
    credential = _bearer(request.headers.get("Authorization"))
    if credential is not None:
        return credential
    key = request.headers.get(API_KEY_HEADER, "").strip()
    if not key:
        return None
    if not key.startswith(KEY_PREFIX):
        raise Unauthenticated()
    return key


def _check(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthenticated()
    if principal.expires_at is not None and principal.expires_at <= timezone.now():
        raise Unauthenticated()
    if principal.is_api_key:
        _record_use(principal.api_key_id)  # type: ignore[arg-type]
    return principal


def _resolve(credential: str) -> Any:
    """Return a Principal, None, or a chain of _Pending lookups to run against the DB."""
    if credential.startswith(KEY_PREFIX):
        return _api_key_principal(credential)
    from accounts.tokens import access_token_decode

    token = access_token_decode(credential)
    session_open = _cached("session", str(token.get("sid", "")), _load_session_open)
    if isinstance(session_open, _Pending):
        return session_open, token
    if not session_open:
        return None
    return _cached("user", str(token.get("sub", "")), _load_user_principal)


def _finish(step: Any) -> Principal | None:
    """Run the pending database lookups of _resolve (sync)."""
    while True:
        if isinstance(step, tuple):
            pending, token = step
            if not _fill(pending):
                return None
            step = _cached("user", str(token.get("sub", "")), _load_user_principal)
            continue
        if isinstance(step, _Pending):
            return _fill(step)
        return step


_failures: CredentialFailures | None = None


def credential_failures() -> CredentialFailures:
    """This process's count of failed credentials per client (AUTH_FAILURE_RATE)."""
    global _failures
    if _failures is None:
        _failures = CredentialFailures(*rate_parse(settings.AUTH_FAILURE_RATE))
    return _failures


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _lookup_allowed(client: str) -> None:
    """Refuse a database lookup for a client whose credentials keep failing."""
    wait = credential_failures().wait(client)
    if wait > 0:
        raise RateLimited(
            "Too many failed authentication attempts from this address; retry "
            "after the time given in Retry-After.",
            retry_after=math.ceil(wait),
        )


def _verified(client: str, step: Any) -> Principal:
    try:
        return _check(step)
    except Unauthenticated:
        credential_failures().record(client)
        raise


def authenticate(request: HttpRequest) -> Principal | None:
    """Return the caller's Principal, None without credentials; raise Unauthenticated,
    or RateLimited for a client whose credentials keep failing (AUTH_FAILURE_RATE)."""
    credential = _credential(request)
    if credential is None:
        return None
    client = _client(request)
    step = _resolved(client, credential)
    if isinstance(step, tuple | _Pending):
        _lookup_allowed(client)
        step = _finish(step)
    return _verified(client, step)


async def aauthenticate(request: HttpRequest) -> Principal | None:
    """See authenticate(). A warm cache answers without leaving the event loop."""
    credential = _credential(request)
    if credential is None:
        return None
    client = _client(request)
    step = _resolved(client, credential)
    if isinstance(step, tuple | _Pending):
        _lookup_allowed(client)
        step = await _afinish(step)
    return _verified(client, step)


def _resolved(client: str, credential: str) -> Any:
    """_resolve(), a malformed credential counted as a failure."""
    try:
        return _resolve(credential)
    except Unauthenticated:
        credential_failures().record(client)
        raise


# Lookups on their way to the database, by what they look up: when a cache entry
# expires under load, the requests presenting that credential share one query instead
# of queueing one each behind the database thread.
_inflight: dict[tuple[str, ...], "asyncio.Future[Any]"] = {}


async def _afinish(step: Any) -> Principal | None:
    pending, token = step if isinstance(step, tuple) else (step, None)
    key = (pending.kind, pending.value, str(token.get("sub", "")) if token else "")
    lookup = _inflight.get(key)
    if lookup is None:
        # A task of its own: a requester that goes away does not cancel the others'.
        lookup = _inflight[key] = asyncio.ensure_future(db.run(_finish, step))
        lookup.add_done_callback(functools.partial(_lookup_done, key))
    return await asyncio.shield(lookup)


def _lookup_done(key: tuple[str, ...], lookup: "asyncio.Future[Any]") -> None:
    _inflight.pop(key, None)
    if not lookup.cancelled():
        lookup.exception()  # retrieved: its requesters may all have gone away


# last_used_at is written in batches, at most once a minute per process.
_used: dict[int, datetime] = {}
_used_lock = threading.Lock()
_last_flush = time.monotonic()
_background: set[asyncio.Task[None]] = set()


def _record_use(api_key_id: int) -> None:
    global _last_flush
    _used[api_key_id] = timezone.now()
    now = time.monotonic()
    if now - _last_flush < settings.API_KEY_LAST_USED_FLUSH_SECONDS:
        return
    _last_flush = now
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        flush_key_usage()
        return
    task = loop.create_task(db.run(flush_key_usage))
    _background.add(task)
    task.add_done_callback(_background.discard)


def flush_key_usage() -> None:
    """Write the batched last_used_at times (also called at shutdown)."""
    from orgs.services import api_keys_mark_used

    with _used_lock:
        batch = dict(_used)
        _used.clear()
    if batch:
        api_keys_mark_used(used=batch)


class BearerAuthentication(authentication.BaseAuthentication):
    """DRF authentication for `Authorization: Bearer sk-…` keys and access JWTs, and
    keys in X-API-Key."""

    def authenticate(self, request: Request) -> tuple[User, Principal] | None:
        principal = authenticate(request._request)
        return None if principal is None else (principal_user(principal), principal)

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def principal_of(request: Request) -> Principal:
    """Return the request's Principal (the view's permission made sure there is one)."""
    if not isinstance(request.auth, Principal):
        raise Unauthenticated()
    return request.auth


class IsAuthenticated(permissions.BasePermission):
    """Any valid credential."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, Principal):
            raise Unauthenticated()
        return True


class AdminAccess(IsAuthenticated):
    """Organization admin routes: login users and admin keys, never project keys."""

    def has_permission(self, request: Request, view: Any) -> bool:
        super().has_permission(request, view)
        if principal_of(request).kind == PrincipalKind.PROJECT_KEY:
            raise Forbidden("Project API keys cannot use organization admin routes.")
        return True


class ProjectAccess(IsAuthenticated):
    """Inference, models, conversations: login users and project keys, never admin keys."""

    def has_permission(self, request: Request, view: Any) -> bool:
        super().has_permission(request, view)
        if principal_of(request).kind == PrincipalKind.ADMIN_KEY:
            raise Forbidden("Admin API keys can only use organization admin routes.")
        return True


def reset_for_tests() -> None:
    """Forget the failed credentials counted in this process (tests start clean)."""
    global _failures
    _failures = None
