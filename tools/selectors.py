"""Reads: organizations' MCP servers (checked against the caller), and the gateway's view
of the servers a caller may use."""

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet

from inference.crypto import api_key_decrypt
from janserver.errors import NotFound
from janserver.principal import Principal
from orgs.models import Organization
from tools.models import McpServer, ToolCall
from tools.remote import Target


def mcp_server_list(*, organization: Organization) -> QuerySet[McpServer]:
    """Return the organization's registered MCP servers, projects joined."""
    return (
        McpServer.objects.filter(organization=organization)
        .select_related("organization")
        .prefetch_related("projects")
    )


def mcp_server_get(*, organization: Organization, public_id: str) -> McpServer:
    """Return one of the organization's MCP servers; raise NotFound (another
    organization's server is not found, like an unknown id)."""
    server = (
        mcp_server_list(organization=organization).filter(public_id=public_id).first()
    )
    if server is None:
        raise NotFound(f"No MCP server with id {public_id!r}.", param="server_id")
    return server


def mcp_server_find(*, reference: str) -> McpServer:
    """Return the MCP server with this public id (operators only); raise NotFound."""
    server = (
        McpServer.objects.select_related("organization")
        .prefetch_related("projects")
        .filter(public_id=reference.strip())
        .first()
    )
    if server is None:
        raise NotFound(f"No MCP server {reference!r}.", param="server")
    return server


def mcp_server_list_all() -> QuerySet[McpServer]:
    """Return every registered MCP server, oldest first (operators only)."""
    return (
        McpServer.objects.select_related("organization")
        .prefetch_related("projects")
        .order_by("created_at", "pk")
    )


def mcp_server_headers(server: McpServer) -> dict[str, str]:
    """Return the headers the gateway sends the server (its auth header, decrypted).

    Raises inference.crypto.ProviderKeyUnreadable when the stored header does not
    decrypt with the configured MODEL_PROVIDER_SECRET.
    """
    if not server.auth_header_encrypted:
        return {}
    value = api_key_decrypt(server.auth_header_encrypted, context=server.public_id)
    return {server.auth_header_name or "Authorization": value}


def mcp_server_targets_usable(*, principal: Principal) -> list[Target]:
    """Return the active MCP servers the caller may use, oldest first, as Targets.

    A project key uses its organization's servers open to all projects and those that
    name its project; a login user those of the organizations and projects they belong
    to. A server whose auth header does not decrypt is left out (and logged by the
    caller's toolbox as unavailable).
    """
    organization_ids, project_ids = principal.scopes
    usable = Q(organization_id__in=organization_ids, all_projects=True) | Q(
        projects__id__in=project_ids, organization_id__in=organization_ids
    )
    servers = (
        McpServer.objects.filter(usable, active=True)
        .distinct()
        .order_by("created_at", "pk")
    )
    return [mcp_server_target(server) for server in servers]


def mcp_server_target(server: McpServer) -> Target:
    """Return the gateway's view of a server (its auth header decrypted)."""
    try:
        headers: dict[str, str] | None = mcp_server_headers(server)
    except ImproperlyConfigured:  # the secret changed: this server only is unusable
        headers = None
    return Target(
        id=server.pk,
        organization_id=server.organization_id,
        public_id=server.public_id,
        label=server.label,
        url=server.url,
        headers=headers or {},
        allowed_tools=tuple(server.allowed_tools)
        if server.allowed_tools is not None
        else None,
        version=server.updated_at.isoformat(),
        status=server.status,
        readable=headers is not None,
    )


def tool_call_list(*, organization: Organization) -> QuerySet[ToolCall]:
    """Return the organization's tool calls, newest first."""
    return ToolCall.objects.filter(organization=organization).order_by("-created_at")
