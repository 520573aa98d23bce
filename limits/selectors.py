"""Reading rate limits and budgets."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import F, QuerySet
from django.utils import timezone

from limits.models import Budget, RateLimit
from orgs.models import Organization, Project
from usage.models import PICO_PER_USD, MonthlySpend, SpendScope


def project_model_limits(*, project: Project) -> dict[str, RateLimit]:
    """The project's own per-model limits (not its keys', not every model's), by model."""
    rows: QuerySet[RateLimit] = RateLimit.objects.filter(
        project=project, api_key__isnull=True
    ).exclude(model="")
    return {row.model: row for row in rows}


@dataclass(frozen=True)
class BudgetStatus:
    """A budget with what its scope spent in the month so far (USD)."""

    budget: Budget
    spent: Decimal

    @property
    def state(self) -> str:
        """Return "over cap" (requests are refused), "alerting" (past the alert
        threshold) or "ok"."""
        cap, alert = self.budget.monthly_limit_usd, self.budget.alert_threshold_usd
        if cap is not None and self.spent >= cap:
            return "over cap"
        if alert is not None and self.spent >= alert:
            return "alerting"
        return "ok"


def budget_status_list(
    *, organization: Organization, at: datetime | None = None
) -> list[BudgetStatus]:
    """Return the organization's budgets (its own first, then its projects' and
    their keys') with the spend of the calendar month (UTC) holding `at` (default: now); two queries."""
    budgets = list(
        Budget.objects.filter(organization=organization)
        .select_related("project", "api_key")
        .order_by(
            F("project_id").asc(nulls_first=True),
            F("api_key_id").asc(nulls_first=True),
            "pk",
        )
    )
    moment = (at or timezone.now()).astimezone(UTC)
    spend = MonthlySpend.objects.filter(
        organization_id=organization.pk, month=moment.year * 100 + moment.month
    ).values_list("scope", "scope_id", "cost")
    spent = {(scope, scope_id): cost for scope, scope_id, cost in spend}
    return [
        BudgetStatus(
            budget,
            Decimal(spent.get(_spend_key(budget), 0)) / PICO_PER_USD,
        )
        for budget in budgets
    ]


def _spend_key(budget: Budget) -> tuple[str, int]:
    if budget.api_key_id is not None:
        return SpendScope.API_KEY.value, budget.api_key_id
    if budget.project_id is not None:
        return SpendScope.PROJECT.value, budget.project_id
    return SpendScope.ORGANIZATION.value, budget.organization_id
