"""`manage.py purge_idempotency_keys`: delete expired Idempotency-Key records."""

from typing import Any

from django.core.management.base import BaseCommand

from conversations.completions.idempotency import KEY_TTL, idempotency_keys_purge


class Command(BaseCommand):
    help = (
        f"Delete the Idempotency-Key records older than {KEY_TTL} "
        "(a retry after that runs the request again). Safe to run from cron."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = idempotency_keys_purge()
        self.stdout.write(f"Deleted {deleted} expired idempotency key(s).")
