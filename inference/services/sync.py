"""Provider writes that talk to the upstream: model syncs, health checks, Jan's setup.

Upstream calls never run inside a transaction of these services: only the writes that
follow them do, so a slow model server holds no database locks.
"""

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from inference import catalog, provider_client
from inference.crypto import ProviderKeyUnreadable
from inference.egress import Reach, reach_of
from inference.models import Provider, ProviderModel, ProviderVendor
from inference.selectors import provider_api_key
from inference.services.providers import (
    base_url_normalize,
    provider_create,
    provider_update,
)
from janserver.errors import (
    InvalidRequest,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from orgs.models import Organization, Project

logger = logging.getLogger("janserver.providers")

UPSTREAM_ERRORS = (UpstreamError, UpstreamTimeout, ServiceUnavailable)
JAN_PROVIDER_NAME = "Jan"
MODEL_ID_MAX_LENGTH = 200
MAX_MODELS = 1000
CONTEXT_LENGTH_MAX = 2**31 - 1


class ModelsSync(NamedTuple):
    created: int
    updated: int
    deactivated: int


def _context_length(item: dict[str, Any]) -> int | None:
    for field in ("max_model_len", "context_length"):
        value = item.get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        if 0 < value <= CONTEXT_LENGTH_MAX:
            return value
    return None


def _listed_models(items: list[dict[str, Any]]) -> dict[str, int | None]:
    """Return model id -> context length from an upstream's model list."""
    listed: dict[str, int | None] = {}
    for item in items:
        model_id = item["id"].strip()
        if 0 < len(model_id) <= MODEL_ID_MAX_LENGTH:
            listed.setdefault(model_id, _context_length(item))
    if len(listed) > MAX_MODELS:
        raise UpstreamError(f"The model server lists more than {MAX_MODELS} models.")
    return listed


def _models_changed(
    known: dict[str, ProviderModel], listed: dict[str, int | None]
) -> tuple[list[ProviderModel], list[ProviderModel]]:
    """Apply the upstream's list to the known models; return (updated, deactivated)."""
    updated, deactivated = [], []
    for model in known.values():
        if model.model_id in listed:
            length = listed[model.model_id]
            if not model.active or model.context_length != length:
                model.active, model.context_length = True, length
                updated.append(model)
        elif model.active:
            model.active = False
            deactivated.append(model)
    return updated, deactivated


@transaction.atomic
def _models_save(*, provider: Provider, listed: dict[str, int | None]) -> ModelsSync:
    models = ProviderModel.objects.select_for_update().filter(provider=provider)
    known = {model.model_id: model for model in models}
    ProviderModel.objects.bulk_create(
        [
            ProviderModel(provider=provider, model_id=model_id, context_length=length)
            for model_id, length in listed.items()
            if model_id not in known
        ]
    )
    updated, deactivated = _models_changed(known, listed)
    now = timezone.now()
    for model in (*updated, *deactivated):
        model.updated_at = now
    ProviderModel.objects.bulk_update(
        [*updated, *deactivated], ["active", "context_length", "updated_at"]
    )
    result = ModelsSync(
        len(listed.keys() - known.keys()), len(updated), len(deactivated)
    )
    if any(result):
        catalog.invalidate()
    return result


def provider_models_sync(*, provider: Provider) -> ModelsSync:
    """Mirror the upstream's `GET /models` into the provider's models.

    New model ids are created; listed ones are reactivated and get the upstream's
    context length (vLLM's `max_model_len`); ids no longer listed are deactivated.
    Raises UpstreamError, UpstreamTimeout or ServiceUnavailable, changing nothing.
    """
    api_key = provider_api_key(provider)
    items = provider_client.models_fetch(
        base_url=provider.base_url, api_key=api_key, reach=_reach(provider)
    )
    result = _models_save(provider=provider, listed=_listed_models(items))
    # The caller's instance may hold its models prefetched from before the sync.
    getattr(provider, "_prefetched_objects_cache", {}).pop("models", None)
    return result


def _models_try_sync(provider: Provider) -> str | None:
    """Sync the provider's models; return the error message instead of raising it."""
    try:
        provider_models_sync(provider=provider)
    except UPSTREAM_ERRORS as exc:
        return exc.message
    return None


def provider_register(
    *,
    name: str,
    base_url: str,
    api_key: str | None = None,
    vendor: str = ProviderVendor.VLLM,
    organization: Organization | None = None,
    project: Project | None = None,
    weight: int = 1,
    active: bool = True,
    sync: bool = True,
) -> tuple[Provider, str | None]:
    """Create a provider (see provider_create), then sync its models unless `sync` is off.

    A failed sync leaves the provider registered without models; the second item is
    then the sync's error message (None when the sync worked or was skipped).
    """
    provider = provider_create(
        name=name,
        base_url=base_url,
        api_key=api_key,
        vendor=vendor,
        organization=organization,
        project=project,
        weight=weight,
        active=active,
    )
    return provider, (_models_try_sync(provider) if sync else None)


def provider_reconfigure(
    *,
    provider: Provider,
    name: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    vendor: str | None = None,
    weight: int | None = None,
    active: bool | None = None,
) -> tuple[Provider, str | None]:
    """Update a provider (see provider_update); when its URL or key changed, resync.

    The second item is the resync's error message, or None.
    """
    before = (provider.base_url, provider.api_key_encrypted)
    provider = provider_update(
        provider=provider,
        name=name,
        base_url=base_url,
        api_key=api_key,
        vendor=vendor,
        weight=weight,
        active=active,
    )
    if (provider.base_url, provider.api_key_encrypted) == before:
        return provider, None
    return provider, _models_try_sync(provider)


def _reach(provider: Provider) -> Reach:
    return reach_of(
        organization_id=provider.organization_id, project_id=provider.project_id
    )


def _probe_target(provider: Provider) -> tuple[str, str | None, Reach] | None:
    try:
        return provider.base_url, provider_api_key(provider), _reach(provider)
    except ProviderKeyUnreadable:
        logger.error("Provider %s has an unreadable API key", provider.public_id)
        return None


def providers_check(
    *, providers: Iterable[Provider] | None = None
) -> list[tuple[Provider, bool]]:
    """Probe each provider (all by default) with `GET /models`, concurrently.

    Returns (provider, answered with a model list) pairs in the given order; a
    provider whose API key does not decrypt counts as down.
    """
    checked = list(
        Provider.objects.order_by("created_at", "pk")
        if providers is None
        else providers
    )
    targets = [_probe_target(provider) for provider in checked]

    def probe(target: tuple[str, str | None, Reach] | None) -> bool:
        if target is None:
            return False
        base_url, api_key, reach = target
        return provider_client.probe(base_url=base_url, api_key=api_key, reach=reach)

    # Each probe has its own time limit, and they run side by side.
    with ThreadPoolExecutor(max_workers=min(len(targets), 16) or 1) as pool:
        results = list(pool.map(probe, targets))
    return list(zip(checked, results, strict=True))


def _jan_provider_ensure(*, base_url: str, vendor: str) -> Provider:
    if vendor not in ProviderVendor.values:
        raise InvalidRequest(
            f"JAN_INFERENCE_VENDOR must be one of {', '.join(ProviderVendor.values)}, "
            f"got {vendor!r}.",
            param="JAN_INFERENCE_VENDOR",
        )
    if not base_url:
        raise InvalidRequest(
            "JAN_INFERENCE_SETUP is on but JAN_INFERENCE_MODEL_URL is not set.",
            param="JAN_INFERENCE_MODEL_URL",
        )
    try:
        base_url = base_url_normalize(base_url)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"JAN_INFERENCE_MODEL_URL: {exc.message}", param="JAN_INFERENCE_MODEL_URL"
        ) from None
    provider = (
        Provider.objects.select_for_update()
        .filter(organization=None, project=None, name__iexact=JAN_PROVIDER_NAME)
        .order_by("pk")
        .first()
    )
    if provider is None:
        return provider_create(name=JAN_PROVIDER_NAME, base_url=base_url, vendor=vendor)
    if (provider.base_url, provider.vendor) != (base_url, vendor):
        return provider_update(provider=provider, base_url=base_url, vendor=vendor)
    return provider


def jan_provider_setup() -> Provider | None:
    """Ensure the shared "Jan" provider at JAN_INFERENCE_MODEL_URL and sync its models.

    Does nothing (None) unless JAN_INFERENCE_SETUP. Idempotent: an existing "Jan"
    provider gets the configured URL and vendor (JAN_INFERENCE_VENDOR), keeping its
    other settings. An unreachable
    upstream is logged, not raised, so that start-up goes on; a missing or invalid URL
    raises InvalidRequest.
    """
    if not settings.JAN_INFERENCE_SETUP:
        return None
    provider = _jan_provider_ensure(
        base_url=settings.JAN_INFERENCE_MODEL_URL,
        vendor=settings.JAN_INFERENCE_VENDOR,
    )
    error = _models_try_sync(provider)
    if error is not None:
        logger.warning(
            "The models of provider %s were not synced: %s", provider.public_id, error
        )
    return provider
