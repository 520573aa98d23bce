"""The per-process catalog of models and the providers serving them, kept in memory.

Requests read a snapshot and never query the database once it is loaded. A snapshot is
rebuilt in the background when it is older than CATALOG_REFRESH_SECONDS or after a
change (`invalidate()`, broadcast to every process like credential changes).
"""

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from inference.egress import Reach, reach_of
from janserver import auth_cache, db
from janserver.principal import Principal

logger = logging.getLogger("janserver.catalog")


@dataclass(frozen=True, slots=True)
class Route:
    """One provider able to serve a model."""

    provider_id: int
    provider_public_id: str
    provider_name: str
    vendor: str
    base_url: str
    api_key: str | None
    weight: int
    # How far the gateway may go to reach it (inference.egress): its scope says who
    # registered it.
    reach: Reach = Reach.OPERATOR


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    created: int
    owned_by: str
    context_length: int | None
    routes: tuple[Route, ...]

    def as_openai(self, *, provider_data: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }
        if provider_data and self.routes:
            first = self.routes[0]
            data |= {
                "provider_id": first.provider_public_id,
                "provider_type": "organization",
                "provider_vendor": first.vendor,
                "provider_name": first.provider_name,
            }
        return data


Models = dict[str, ModelEntry]


@dataclass
class Snapshot:
    shared: Models = field(default_factory=dict)
    by_organization: dict[int, Models] = field(default_factory=dict)
    by_project: dict[int, Models] = field(default_factory=dict)
    loaded_at: float = 0.0


def _api_key(provider: Any) -> str | None:
    if not provider.api_key_encrypted:
        return None
    from inference.selectors import provider_api_key

    return provider_api_key(provider)


def _add(models: Models, model: Any, route: Route) -> None:
    entry = models.get(model.model_id)
    if entry is None:
        models[model.model_id] = ModelEntry(
            id=model.model_id,
            created=int(model.created_at.timestamp()),
            owned_by=route.provider_name,
            context_length=model.context_length,
            routes=(route,),
        )
    else:
        context = entry.context_length
        if model.context_length:
            context = min(context or model.context_length, model.context_length)
        models[model.model_id] = ModelEntry(
            entry.id, entry.created, entry.owned_by, context, (*entry.routes, route)
        )


def load() -> Snapshot:
    """Build a snapshot from the database (one query for providers, one for models)."""
    from inference.models import ProviderModel

    snapshot = Snapshot(loaded_at=time.monotonic())
    rows = ProviderModel.objects.filter(active=True, provider__active=True)
    unreadable: set[int] = set()
    for model in rows.select_related("provider").order_by("provider_id", "model_id"):
        provider = model.provider
        if provider.pk in unreadable:
            continue
        try:
            api_key = _api_key(provider)
        except ImproperlyConfigured:
            logger.error(
                "Skipping provider %s: its API key cannot be decrypted",
                provider.public_id,
            )
            unreadable.add(provider.pk)
            continue
        route = Route(
            provider.pk,
            provider.public_id,
            provider.name,
            provider.vendor,
            provider.base_url,
            api_key,
            provider.weight,
            reach_of(
                organization_id=provider.organization_id,
                project_id=provider.project_id,
            ),
        )
        if provider.project_id:
            target = snapshot.by_project.setdefault(provider.project_id, {})
        elif provider.organization_id:
            target = snapshot.by_organization.setdefault(provider.organization_id, {})
        else:
            target = snapshot.shared
        _add(target, model, route)
    return snapshot


_snapshot: Snapshot | None = None
_stale = True
_lock = threading.Lock()
_refreshing: asyncio.Task[None] | None = None


def mark_stale() -> None:
    global _stale
    _stale = True


def invalidate() -> None:
    """Rebuild the catalog here and, once the transaction commits, in every process."""
    auth_cache.invalidate("catalog")


auth_cache.on_invalidate("catalog", mark_stale)


def _needs_refresh() -> bool:
    if _snapshot is None or _stale:
        return True
    return time.monotonic() - _snapshot.loaded_at > settings.CATALOG_REFRESH_SECONDS


def refresh() -> Snapshot:
    """Load a new snapshot now (sync) and make it current."""
    global _snapshot, _stale
    with _lock:
        _stale = False
        try:
            _snapshot = load()
        except Exception:
            _stale = True
            raise
    return _snapshot


def snapshot() -> Snapshot:
    """Return the current snapshot, loading it synchronously when needed (sync callers)."""
    current = _snapshot
    if current is None or _needs_refresh():
        return refresh()
    return current


async def asnapshot() -> Snapshot:
    """See snapshot(). Once loaded, a stale snapshot is served while a task rebuilds it."""
    global _refreshing
    if _snapshot is None:
        return await db.run(refresh)
    if _needs_refresh() and (_refreshing is None or _refreshing.done()):
        _refreshing = asyncio.get_running_loop().create_task(_refresh_in_background())
    return _snapshot


async def _refresh_in_background() -> None:
    try:
        await db.run(refresh)
    except Exception:
        logger.exception(
            "Could not refresh the model catalog; serving the previous one"
        )


def visible_models(snap: Snapshot, principal: Principal) -> Models:
    """Return the models this caller may use: shared, then org, then project scope wins."""
    organization_ids, project_ids = principal.scopes
    if not organization_ids and not project_ids:
        return snap.shared
    models = dict(snap.shared)
    for organization_id in organization_ids:
        models.update(snap.by_organization.get(organization_id, {}))
    for project_id in project_ids:
        models.update(snap.by_project.get(project_id, {}))
    return models


def project_model_ids(
    snap: Snapshot, organization_id: int, project_id: int
) -> list[str]:
    """The ids of the models a project's keys may use, sorted."""
    models = dict(snap.shared)
    models.update(snap.by_organization.get(organization_id, {}))
    models.update(snap.by_project.get(project_id, {}))
    return sorted(model_id for model_id, entry in models.items() if entry.routes)


def reset_for_tests() -> None:
    """Forget the catalog: the next request loads it anew, before it is answered
    (tests change providers freely)."""
    global _snapshot, _stale
    with _lock:
        _snapshot, _stale = None, True
