"""Provider writes: create, update and delete providers; store and read their API keys."""

import re
from urllib.parse import urlsplit

from django.db import transaction

from inference import catalog
from inference.crypto import (
    ProviderSecretMissing,
    api_key_encrypt,
    api_key_hint,
)
from inference.egress import Reach, literal_address, reach_of, refusal
from inference.models import Provider, ProviderVendor
from janserver.errors import Conflict, InvalidRequest
from orgs.models import Organization, Project

NAME_MAX_LENGTH = 100
BASE_URL_MAX_LENGTH = 500
API_KEY_MAX_LENGTH = 4096
WEIGHT_MAX = 1000
SCHEMES = ("http", "https")
HOST_RE = re.compile(
    r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?", re.ASCII
)


def _bad_url(reason: str) -> InvalidRequest:
    return InvalidRequest(f"The base URL {reason}.", param="base_url")


def _host_check(host: str, reach: Reach) -> str:
    """Return the host as written in a URL; refuse an address the outbound policy
    forbids (inference.egress), in whatever spelling (hex, octal, IPv4-mapped IPv6)."""
    address = literal_address(host)
    if address is None:
        if not HOST_RE.fullmatch(host):
            raise _bad_url("has an invalid host name")
        return host
    reason = refusal(address, reach)
    if reason is not None:
        raise _bad_url(f"must not point at {reason}")
    return f"[{address}]" if address.version == 6 else str(address)


def base_url_normalize(base_url: str, reach: Reach = Reach.OPERATOR) -> str:
    """Return a provider's OpenAI base URL in canonical form; raise InvalidRequest.

    Only http and https URLs with a host, without credentials, query or fragment are
    accepted, pointing at no address the outbound policy forbids for URLs of `reach`
    (a literal address is written in its canonical form). The scheme and host are
    lowercased and trailing slashes dropped.
    """
    url = base_url.strip()
    if not url:
        raise _bad_url("must not be empty")
    if len(url) > BASE_URL_MAX_LENGTH:
        raise _bad_url(f"must be at most {BASE_URL_MAX_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise _bad_url("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad_url("is not a valid URL") from None
    if parts.scheme.lower() not in SCHEMES:
        raise _bad_url("must start with http:// or https://")
    if "@" in parts.netloc:
        raise _bad_url("must not contain credentials; set the API key instead")
    if "?" in url or "#" in url:
        raise _bad_url("must not have a query or a fragment")
    if not parts.hostname:
        raise _bad_url("must name a host")
    if port == 0:
        raise _bad_url("has an invalid port")
    netloc = _host_check(parts.hostname, reach) + (f":{port}" if port else "")
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def _name_clean(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidRequest("The provider name must not be empty.", param="name")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidRequest(
            f"The provider name must be at most {NAME_MAX_LENGTH} characters.",
            param="name",
        )
    return name


def _vendor_check(vendor: str) -> str:
    if vendor not in ProviderVendor.values:
        choices = ", ".join(ProviderVendor.values)
        raise InvalidRequest(
            f"Unknown vendor {vendor!r}; use one of {choices}.", param="vendor"
        )
    return vendor


def _weight_check(weight: int) -> int:
    if isinstance(weight, bool) or not 1 <= weight <= WEIGHT_MAX:
        raise InvalidRequest(
            f"The weight must be an integer from 1 to {WEIGHT_MAX}.", param="weight"
        )
    return weight


def _scope_check(
    organization: Organization | None, project: Project | None
) -> tuple[Organization | None, Project | None]:
    if project is None:
        return organization, None
    if organization is None:
        return project.organization, project
    if project.organization_id != organization.pk:
        raise InvalidRequest(
            f"Project {project.public_id} is not in organization "
            f"{organization.public_id}.",
            param="project",
        )
    return organization, project


def _name_unique_check(provider: Provider) -> None:
    """Names are unique, ignoring case, among the providers of one scope."""
    same_scope = Provider.objects.filter(
        organization=provider.organization, project=provider.project
    )
    if same_scope.filter(name__iexact=provider.name).exclude(pk=provider.pk).exists():
        raise Conflict(
            f"A provider named {provider.name!r} already exists in this scope.",
            param="name",
        )


def _api_key_store(provider: Provider, api_key: str | None) -> None:
    """Store `api_key` encrypted on `provider` (an empty key or None removes it)."""
    api_key = (api_key or "").strip()
    if not api_key:
        provider.api_key_encrypted = provider.api_key_hint = ""
        return
    if len(api_key) > API_KEY_MAX_LENGTH or not all(
        33 <= ord(char) < 127 for char in api_key
    ):
        raise InvalidRequest(
            "The API key must be at most 4096 printable ASCII characters "
            "without spaces.",
            param="api_key",
        )
    try:
        provider.api_key_encrypted = api_key_encrypt(
            api_key, context=provider.public_id
        )
    except ProviderSecretMissing:
        raise InvalidRequest(
            "This server cannot store provider API keys: MODEL_PROVIDER_SECRET is "
            "not set.",
            param="api_key",
        ) from None
    provider.api_key_hint = api_key_hint(api_key)


@transaction.atomic
def provider_create(
    *,
    name: str,
    base_url: str,
    api_key: str | None = None,
    vendor: str = ProviderVendor.VLLM,
    organization: Organization | None = None,
    project: Project | None = None,
    weight: int = 1,
    active: bool = True,
) -> Provider:
    """Register an upstream: shared (no organization), an organization's or a project's.

    A project implies its organization. Names are unique within a scope (Conflict).
    The API key is stored encrypted; only its hint can be read back.
    """
    organization, project = _scope_check(organization, project)
    provider = Provider(
        name=_name_clean(name),
        base_url=base_url_normalize(
            base_url,
            reach_of(
                organization_id=organization.pk if organization else None,
                project_id=project.pk if project else None,
            ),
        ),
        vendor=_vendor_check(vendor),
        weight=_weight_check(weight),
        active=active,
        organization=organization,
        project=project,
    )
    _name_unique_check(provider)
    _api_key_store(provider, api_key)
    provider.save()
    catalog.invalidate()
    return provider


@transaction.atomic
def provider_update(
    *,
    provider: Provider,
    name: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    vendor: str | None = None,
    weight: int | None = None,
    active: bool | None = None,
) -> Provider:
    """Change the given fields of a provider (None leaves a field as it is).

    An empty `api_key` removes the stored key. The scope never changes.
    """
    if name is not None:
        provider.name = _name_clean(name)
        _name_unique_check(provider)
    if base_url is not None:
        provider.base_url = base_url_normalize(
            base_url,
            reach_of(
                organization_id=provider.organization_id, project_id=provider.project_id
            ),
        )
    if api_key is not None:
        _api_key_store(provider, api_key)
    if vendor is not None:
        provider.vendor = _vendor_check(vendor)
    if weight is not None:
        provider.weight = _weight_check(weight)
    if active is not None:
        provider.active = active
    provider.save()
    catalog.invalidate()
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider) -> None:
    """Delete a provider and its models (usage records keep their rows)."""
    provider.delete()
    catalog.invalidate()
