"""`manage.py rebuild_usage_rollups --since DATE [--until DATE]`: recompute rollups."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from usage.services import usage_rollups_rebuild


def _day(value: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = (
        "Recompute the rollups of whole UTC days (from --since to the day before "
        "--until, default: through today) and the monthly spend of their months from "
        "the raw usage rows, with today's prices. Only for days whose raw rows are "
        "all kept (within USAGE_RETENTION_DAYS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, metavar="YYYY-MM-DD")
        parser.add_argument("--until", metavar="YYYY-MM-DD")

    def handle(self, *args: Any, since: str, until: str | None, **options: Any) -> None:
        start = _day(since)
        end = (
            _day(until)
            if until
            else _day(timezone.now().date().isoformat()) + timedelta(days=1)
        )
        if end <= start:
            raise CommandError("--until must be after --since.")
        retention = settings.USAGE_RETENTION_DAYS
        if retention and start < timezone.now() - timedelta(days=retention):
            raise CommandError(
                f"{since} is older than USAGE_RETENTION_DAYS ({retention}): its raw "
                "rows may be pruned, and its rollups would be lost."
            )
        written = usage_rollups_rebuild(since=start, until=end)
        self.stdout.write(
            f"Rebuilt the rollups of {start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}: "
            f"{written} minute rollups."
        )
