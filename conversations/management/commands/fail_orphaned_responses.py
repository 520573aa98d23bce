"""`manage.py fail_orphaned_responses`: fail responses whose process was lost."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from conversations.responses.services import responses_orphaned_fail


class Command(BaseCommand):
    help = (
        "Mark failed every queued or in-progress response whose runner has not touched "
        "it for RESPONSES_ORPHANED_SECONDS (its process was killed without a shutdown). "
        "Reading such a response does the same; this catches the ones nobody reads. "
        "Safe to run from cron."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        lost_before = timezone.now() - timedelta(
            seconds=settings.RESPONSES_ORPHANED_SECONDS
        )
        failed = responses_orphaned_fail(older_than=lost_before)
        self.stdout.write(f"Failed {failed} orphaned response(s).")
