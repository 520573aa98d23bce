"""Provider reads: the providers of a scope, and those whose models a caller may use."""

from django.db.models import Prefetch, Q, QuerySet

from inference.crypto import api_key_decrypt
from inference.models import Provider, ProviderModel
from janserver.errors import InvalidRequest, NotFound
from janserver.principal import Principal
from orgs.models import Organization, Project


def _with_models(
    providers: QuerySet[Provider], *, active_only: bool = False
) -> QuerySet[Provider]:
    models = ProviderModel.objects.order_by("model_id")
    if active_only:
        models = models.filter(active=True)
    return providers.select_related("organization", "project").prefetch_related(
        Prefetch("models", queryset=models)
    )


def provider_list(
    *, organization: Organization, project: Project | None = None
) -> QuerySet[Provider]:
    """Return the providers of one scope, models joined: the organization's own
    (without a project), or the project's (`project` must be access-checked)."""
    return _with_models(
        Provider.objects.filter(organization=organization, project=project)
    )


def provider_get(
    *, public_id: str, organization: Organization, project: Project | None = None
) -> Provider:
    """Return a provider of the scope of provider_list(); raise NotFound.

    A provider of another scope or organization is not found, like an unknown id.
    """
    provider = (
        provider_list(organization=organization, project=project)
        .filter(public_id=public_id)
        .first()
    )
    if provider is None:
        raise NotFound(f"No provider with id {public_id!r}.", param="provider_id")
    return provider


def provider_list_usable(*, principal: Principal) -> QuerySet[Provider]:
    """Return the active providers whose models the caller may use, active models joined.

    Those are the shared providers, plus the organization and project providers of the
    key's project, or of the user's organizations and projects.
    """
    organization_ids, project_ids = principal.scopes
    scope = (
        Q(organization__isnull=True)
        | Q(organization_id__in=organization_ids, project__isnull=True)
        | Q(project_id__in=project_ids)
    )
    providers = Provider.objects.filter(scope, active=True).order_by("created_at", "pk")
    return _with_models(providers, active_only=True)


def provider_list_for_organization(*, organization: Organization) -> QuerySet[Provider]:
    """Return the providers an organization's requests may be routed to, active or
    not, oldest first, models joined: the shared ones, its own and its projects'
    (operators only: no access check)."""
    providers = Provider.objects.filter(
        Q(organization__isnull=True) | Q(organization=organization)
    ).order_by("created_at", "pk")
    return _with_models(providers)


def provider_list_all() -> QuerySet[Provider]:
    """Return every provider, oldest first, scopes and models joined (operators only)."""
    return _with_models(Provider.objects.order_by("created_at", "pk"))


def provider_find(*, reference: str) -> Provider:
    """Return the provider with this public id, or else this name (operators only).

    Names are unique only within a scope: a name several providers share is refused
    (InvalidRequest), an unknown one raises NotFound.
    """
    providers = provider_list_all()
    found = providers.filter(public_id=reference).first()
    if found is not None:
        return found
    named = list(providers.filter(name__iexact=reference.strip())[:2])
    if len(named) > 1:
        raise InvalidRequest(
            f"Several providers are named {reference!r}; give the provider's id.",
            param="provider",
        )
    if not named:
        raise NotFound(f"No provider {reference!r}.", param="provider")
    return named[0]


def provider_api_key(provider: Provider) -> str | None:
    """Return the provider's decrypted API key, or None when it has none.

    Raises inference.crypto.ProviderKeyUnreadable (ImproperlyConfigured) when the key
    does not decrypt with the configured MODEL_PROVIDER_SECRET.
    """
    if not provider.api_key_encrypted:
        return None
    return api_key_decrypt(provider.api_key_encrypted, context=provider.public_id)
