"""`manage.py revokeapikey KEY_ID`: revoke an API key (idempotent)."""

from typing import Any

from django.core.management.base import CommandParser

from orgs.management.base import OrgsCommand, iso, short_time
from orgs.models import ApiKey
from orgs.selectors import api_key_get
from orgs.services import api_key_revoke

Result = tuple[ApiKey, bool]


class Command(OrgsCommand[Result]):
    help = (
        "Revoke an API key so that it stops authenticating. Revoking a key that is "
        "already revoked succeeds and keeps the first revocation time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_id", metavar="KEY_ID", help="Key public id (key_…).")

    def run(self, *, key_id: str, **options: Any) -> Result:
        api_key = api_key_get(public_id=key_id.strip())
        already_revoked = api_key.is_revoked
        return api_key_revoke(api_key=api_key), already_revoked

    def as_json(self, result: Result) -> dict[str, Any]:
        api_key, _ = result
        return {"id": api_key.public_id, "revoked_at": iso(api_key.revoked_at)}

    def as_text(self, result: Result) -> str:
        api_key, already_revoked = result
        when = short_time(api_key.revoked_at)
        if already_revoked:
            return f"API key {api_key.public_id} was already revoked at {when} UTC."
        return f"Revoked API key {api_key.public_id} at {when} UTC."
