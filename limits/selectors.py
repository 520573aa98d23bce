"""Reading rate limits."""

from django.db.models import QuerySet

from limits.models import RateLimit
from orgs.models import Project


def project_model_limits(*, project: Project) -> dict[str, RateLimit]:
    """The project's own per-model limits (not its keys', not every model's), by model."""
    rows: QuerySet[RateLimit] = RateLimit.objects.filter(
        project=project, api_key__isnull=True
    ).exclude(model="")
    return {row.model: row for row in rows}
