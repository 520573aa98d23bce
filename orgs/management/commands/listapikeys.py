"""`manage.py listapikeys`: list API keys as a table or JSON, never their secrets."""

from datetime import datetime
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from orgs.management.base import (
    ORG_HELP,
    OrgsCommand,
    iso,
    organization_resolve,
    short_time,
)
from orgs.models import ApiKey
from orgs.selectors import api_key_list

COLUMNS = [
    ("id", "ID"),
    ("kind", "KIND"),
    ("org", "ORG"),
    ("project", "PROJECT"),
    ("owner", "OWNER"),
    ("name", "NAME"),
    ("hint", "HINT"),
    ("created_at", "CREATED"),
    ("expires_at", "EXPIRES"),
    ("status", "STATUS"),
    ("last_used_at", "LAST USED"),
]


def api_key_status(api_key: ApiKey, now: datetime) -> str:
    """Return why a key does or does not authenticate, most final reason first."""
    if api_key.is_revoked:
        return "revoked"
    if not api_key.enabled:
        return "disabled"
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return "expired"
    if api_key.project is not None and api_key.project.is_archived:
        return "archived"
    return "active"


def api_key_row(api_key: ApiKey, now: datetime) -> dict[str, Any]:
    """Return the listed fields of a key: ids, names and times, never the hash."""
    return {
        "id": api_key.public_id,
        "kind": api_key.kind,
        "org": api_key.organization.public_id,
        "project": api_key.project.public_id if api_key.project else None,
        "owner": api_key.owner.email,
        "name": api_key.name,
        "hint": api_key.hint,
        "created_at": iso(api_key.created_at),
        "expires_at": iso(api_key.expires_at),
        "revoked_at": iso(api_key.revoked_at),
        "last_used_at": iso(api_key.last_used_at),
        "status": api_key_status(api_key, now),
    }


def table_row(api_key: ApiKey, now: datetime) -> list[str]:
    """Return a key's table cells, with compact times and "-" for empty values."""
    row = api_key_row(api_key, now)
    for field in ("created_at", "expires_at", "last_used_at"):
        row[field] = short_time(getattr(api_key, field))
    return [str(row[key] or "-") for key, _ in COLUMNS]


class Command(OrgsCommand[list[ApiKey]]):
    help = (
        "List API keys, newest first, with a STATUS column: active, expired, "
        "disabled, archived (the key's project is archived) or revoked. Revoked "
        "keys are hidden unless --include-revoked is given. Secrets and hashes "
        "are never shown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org", metavar="ORG", help=ORG_HELP + " Default: every organization."
        )
        parser.add_argument(
            "--include-revoked",
            action="store_true",
            help="Also list revoked keys (status 'revoked').",
        )

    def run(
        self, *, org: str | None, include_revoked: bool, **options: Any
    ) -> list[ApiKey]:
        organization = organization_resolve(org) if org is not None else None
        keys = api_key_list(organization=organization)
        if not include_revoked:
            keys = keys.filter(revoked_at__isnull=True)
        return list(keys)

    def as_json(self, result: list[ApiKey]) -> list[dict[str, Any]]:
        now = timezone.now()
        return [api_key_row(api_key, now) for api_key in result]

    def as_text(self, result: list[ApiKey]) -> str:
        if not result:
            return "No API keys."
        now = timezone.now()
        rows = [table_row(api_key, now) for api_key in result]
        header = [title for _, title in COLUMNS]
        widths = [
            max(len(cell) for cell in column)
            for column in zip(header, *rows, strict=True)
        ]
        return "\n".join(
            "  ".join(
                cell.ljust(width) for cell, width in zip(line, widths, strict=True)
            ).rstrip()
            for line in [header, *rows]
        )
