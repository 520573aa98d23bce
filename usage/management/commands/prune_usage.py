"""`manage.py prune_usage [--days N]`: delete raw usage rows past the retention."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from usage.services import usage_prune


class Command(BaseCommand):
    help = (
        "Delete the usage ledger's raw rows (and minute rollups) older than "
        "USAGE_RETENTION_DAYS (or --days), in short transactions; the hour and day "
        "rollups and the monthly spend stay. For cron; safe while the gateway runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help="Keep this many days instead of USAGE_RETENTION_DAYS (at least 1).",
        )

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        if days is None:
            days = settings.USAGE_RETENTION_DAYS
            if days == 0:
                self.stdout.write("USAGE_RETENTION_DAYS is 0: usage is kept forever.")
                return
        if days < 1:
            raise CommandError(f"--days must be at least 1, got {days}.")
        before = timezone.now() - timedelta(days=days)
        pruned = usage_prune(before=before)
        self.stdout.write(
            f"Deleted {pruned.usage_records} usage rows and "
            f"{pruned.minute_rollups} minute rollups older than {before:%Y-%m-%d %H:%M} UTC."
        )
