"""Writes: register, change and remove organizations' MCP servers; record their health."""

import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from inference.crypto import ProviderSecretMissing, api_key_encrypt, api_key_hint
from inference.egress import Reach, literal_address, refusal
from janserver.errors import Conflict, InvalidRequest
from orgs.models import Organization, Project
from tools.models import McpServer, ServerStatus

LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]|_(?!_)){0,31}", re.ASCII)
HEADER_NAME_RE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", re.ASCII)
HOST_RE = re.compile(
    r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?", re.ASCII
)
# Reserved: the built-in tools' server label, and names that would read as one.
RESERVED_LABELS = frozenset({"builtin", "janserver"})
URL_MAX_LENGTH = 500
DESCRIPTION_MAX_LENGTH = 500
HEADER_VALUE_MAX_LENGTH = 4096
TOOL_NAME_MAX_LENGTH = 128
MAX_ALLOWED_TOOLS = 500
DEFAULT_AUTH_HEADER = "Authorization"


def _bad_url(reason: str) -> InvalidRequest:
    return InvalidRequest(f"The MCP server URL {reason}.", param="url")


def mcp_url_normalize(url: str) -> str:
    """Return an MCP server URL in canonical form; raise InvalidRequest.

    http(s) with a host, no credentials or fragment, and no address the outbound policy
    forbids for an organization's URLs (inference.egress; checked again on the resolved
    address at every connection).
    """
    url = url.strip()
    if not url or len(url) > URL_MAX_LENGTH:
        raise _bad_url(f"must have 1 to {URL_MAX_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in url):
        raise _bad_url("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad_url("is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _bad_url("must start with http:// or https://")
    if "@" in parts.netloc:
        raise _bad_url("must not contain credentials; set the auth header instead")
    if "#" in url:
        raise _bad_url("must not have a fragment")
    if not parts.hostname or port == 0:
        raise _bad_url("must name a host (and a valid port)")
    host = parts.hostname
    address = literal_address(host)
    if address is None:
        if not HOST_RE.fullmatch(host):
            raise _bad_url("has an invalid host name")
    else:
        reason = refusal(address, Reach.TENANT)
        if reason is not None:
            raise _bad_url(f"must not point at {reason}")
        host = f"[{address}]" if address.version == 6 else str(address)
    netloc = host + (f":{port}" if port else "")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}{query}"


def _label_clean(label: str) -> str:
    label = label.strip()
    if not LABEL_RE.fullmatch(label) or label in RESERVED_LABELS:
        raise InvalidRequest(
            "The label must be 1 to 32 lowercase letters, digits, '-' or single '_', "
            "starting with a letter or digit (and not 'builtin' or 'janserver').",
            param="label",
        )
    return label


def _label_unique_check(server: McpServer) -> None:
    taken = McpServer.objects.filter(
        organization_id=server.organization_id, label=server.label
    ).exclude(pk=server.pk)
    if taken.exists():
        raise Conflict(
            f"An MCP server labelled {server.label!r} already exists in this "
            "organization.",
            param="label",
        )


def _allowed_tools_clean(allowed_tools: Sequence[str] | None) -> list[str] | None:
    if allowed_tools is None:
        return None
    if isinstance(allowed_tools, str) or len(allowed_tools) > MAX_ALLOWED_TOOLS:
        raise InvalidRequest(
            f"allowed_tools must be a list of at most {MAX_ALLOWED_TOOLS} tool names, "
            "or null for every tool of the server.",
            param="allowed_tools",
        )
    names: list[str] = []
    for name in allowed_tools:
        if (
            not isinstance(name, str)
            or not name.strip()
            or len(name) > TOOL_NAME_MAX_LENGTH
        ):
            raise InvalidRequest(
                f"Each allowed tool must be a name of 1 to {TOOL_NAME_MAX_LENGTH} "
                "characters.",
                param="allowed_tools",
            )
        if name.strip() not in names:
            names.append(name.strip())
    return names


def _auth_header_store(server: McpServer, name: str | None, value: str | None) -> None:
    """Store the auth header encrypted on `server` (an empty value removes it)."""
    value = (value or "").strip()
    if not value:
        server.auth_header_name = server.auth_header_encrypted = ""
        server.auth_header_hint = ""
        return
    name = (name or DEFAULT_AUTH_HEADER).strip()
    if not HEADER_NAME_RE.fullmatch(name):
        raise InvalidRequest(
            "The auth header name is not a valid HTTP header name.",
            param="auth_header_name",
        )
    if len(value) > HEADER_VALUE_MAX_LENGTH or not all(
        32 <= ord(char) < 127 for char in value
    ):
        raise InvalidRequest(
            f"The auth header value must be at most {HEADER_VALUE_MAX_LENGTH} "
            "printable ASCII characters.",
            param="auth_header",
        )
    try:
        server.auth_header_encrypted = api_key_encrypt(value, context=server.public_id)
    except ProviderSecretMissing:
        raise InvalidRequest(
            "This server cannot store secrets: MODEL_PROVIDER_SECRET is not set.",
            param="auth_header",
        ) from None
    server.auth_header_name = name
    server.auth_header_hint = api_key_hint(value)


def _projects_of(
    organization: Organization, project_ids: Sequence[str]
) -> list[Project]:
    wanted = list(dict.fromkeys(project_ids))
    found = {
        project.public_id: project
        for project in Project.objects.filter(
            organization=organization, public_id__in=wanted
        )
    }
    missing = [public_id for public_id in wanted if public_id not in found]
    if missing:
        raise InvalidRequest(
            f"No project {missing[0]!r} in this organization.", param="projects"
        )
    return [found[public_id] for public_id in wanted]


def _description_clean(description: str) -> str:
    description = description.strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise InvalidRequest(
            f"The description must be at most {DESCRIPTION_MAX_LENGTH} characters.",
            param="description",
        )
    return description


@transaction.atomic
def mcp_server_register(
    *,
    organization: Organization,
    label: str,
    url: str,
    description: str = "",
    auth_header: str | None = None,
    auth_header_name: str | None = None,
    allowed_tools: Sequence[str] | None = None,
    all_projects: bool = False,
    projects: Sequence[str] = (),
    active: bool = True,
) -> McpServer:
    """Register an organization's MCP server.

    Labels are unique per organization (Conflict). `projects` are public ids of the
    organization's projects that may use it (or `all_projects`). The auth header's
    value is stored encrypted; only its hint can be read back.
    """
    server = McpServer(
        organization=organization,
        label=_label_clean(label),
        url=mcp_url_normalize(url),
        description=_description_clean(description),
        allowed_tools=_allowed_tools_clean(allowed_tools),
        all_projects=all_projects,
        active=active,
    )
    _label_unique_check(server)
    _auth_header_store(server, auth_header_name, auth_header)
    members = _projects_of(organization, projects)
    server.save()
    server.projects.set(members)
    return server


@transaction.atomic
def mcp_server_update(
    *,
    server: McpServer,
    label: str | None = None,
    url: str | None = None,
    description: str | None = None,
    auth_header: str | None = None,
    auth_header_name: str | None = None,
    allowed_tools: object = ...,
    all_projects: bool | None = None,
    projects: Sequence[str] | None = None,
    active: bool | None = None,
) -> McpServer:
    """Change the given fields (None leaves a field as it is; `allowed_tools` may be set
    to None, every tool). An empty `auth_header` removes the stored header."""
    if label is not None:
        server.label = _label_clean(label)
        _label_unique_check(server)
    if url is not None:
        server.url = mcp_url_normalize(url)
        server.status, server.status_detail = ServerStatus.UNKNOWN, ""
    if description is not None:
        server.description = _description_clean(description)
    if auth_header is not None:
        _auth_header_store(server, auth_header_name, auth_header)
    if allowed_tools is not ...:
        server.allowed_tools = _allowed_tools_clean(allowed_tools)  # type: ignore[arg-type]
    if all_projects is not None:
        server.all_projects = all_projects
    if active is not None:
        server.active = active
    server.save()
    if projects is not None:
        server.projects.set(_projects_of(server.organization, projects))
    return server


@transaction.atomic
def mcp_server_delete(*, server: McpServer) -> None:
    """Remove a registered MCP server (its tool call records keep their rows)."""
    server.delete()


def mcp_server_status_record(
    *, server_id: int, up: bool, detail: str, checked_at: datetime | None = None
) -> None:
    """Record whether the server answered its last tools/list (and why not)."""
    McpServer.objects.filter(pk=server_id).update(
        status=ServerStatus.UP if up else ServerStatus.DOWN,
        status_detail=detail[:300],
        checked_at=checked_at or timezone.now(),
    )
