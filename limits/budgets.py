"""Monthly budgets at admission: a request's estimated cost is reserved against the
month's spend of its organization, project and key, and settled with its real cost.

The counters live with the rate limits' (limits.store: Redis, or memory); a counter
the store does not hold yet (a new month, a restarted Redis) starts from the usage
ledger's spend (usage.selectors.month_spend, read at most every
BUDGET_LEDGER_REFRESH_SECONDS per scope and process). Costs use the usage app's prices:
a model without a price costs nothing, and no budget stops it.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings

from janserver import background, db
from janserver.errors import InsufficientQuota
from limits.rules import NANO_PER_USD, BudgetRule, Kind, Meter, budget_key

logger = logging.getLogger("janserver.limits")

NO_CAP = 10**18  # an alert-only budget's counter never refuses


@dataclass(frozen=True, slots=True)
class Pricing:
    """A request's prices and estimate, in nanodollars."""

    input_per_token: float
    output_per_token: float
    estimate: int

    def cost(self, prompt_tokens: int, completion_tokens: int) -> int:
        return math.ceil(
            prompt_tokens * self.input_per_token
            + completion_tokens * self.output_per_token
        )


def pricing(price: tuple[float, float], prompt: int, completion: int) -> Pricing:
    estimate = math.ceil(prompt * price[0] + completion * price[1])
    return Pricing(price[0], price[1], estimate)


def month_of(now: datetime | None = None) -> date:
    now = now or datetime.now(UTC)
    return date(now.year, now.month, 1)


def meter(budget: BudgetRule, month: date) -> Meter:
    name = "monthly budget"
    return Meter(
        budget_key(budget, month.strftime("%Y-%m")),
        Kind.BUDGET,
        budget.cap if budget.cap is not None else NO_CAP,
        0,
        budget.scope,
        budget.scope_id,
        "",
        name,
    )


_ledger: dict[tuple[int, date], tuple[float, int]] = {}


async def ledger_spent(budget: BudgetRule, month: date) -> int:
    """The month's spend of the budget's scope in the usage ledger, in nanodollars
    (cached per process: it only seeds a counter the store does not hold)."""
    cached = _ledger.get((budget.budget_id, month))
    if cached is not None and time.monotonic() - cached[0] < (
        settings.BUDGET_LEDGER_REFRESH_SECONDS
    ):
        return cached[1]
    from usage.selectors import month_spend

    spent = await db.run(
        month_spend,
        organization_id=budget.organization_id,
        project_id=budget.project_id,
        api_key_id=budget.api_key_id,
        at=datetime(month.year, month.month, 1, tzinfo=UTC),
    )
    nano = int(spent * NANO_PER_USD)
    _ledger[(budget.budget_id, month)] = (time.monotonic(), nano)
    return nano


def exhausted(budget: BudgetRule, spent: int, cost: int) -> InsufficientQuota:
    """OpenAI's insufficient_quota: no retry will help before the month ends."""
    where = f"{budget.scope.replace('_', ' ')} {budget.scope_id}"
    cap = (budget.cap or 0) / NANO_PER_USD
    message = (
        f"You exceeded your current quota: {where} has spent "
        f"${spent / NANO_PER_USD:,.2f} of its ${cap:,.2f} monthly budget, and this "
        f"request may cost up to ${cost / NANO_PER_USD:,.6f}. The budget renews on "
        "the 1st (UTC); an owner can raise it."
    )
    return InsufficientQuota(message)


_alerted: set[tuple[int, date]] = set()


def alert_if_due(budget: BudgetRule, month: date, spent: int) -> None:
    """Tell the owners once this month when spend reaches the budget's threshold
    (limits.services.budget_alert makes it once across every process)."""
    if budget.alert is None or spent < budget.alert:
        return
    if budget.alerted_month == month or (budget.budget_id, month) in _alerted:
        return
    _alerted.add((budget.budget_id, month))
    from limits.services import budget_alert

    background.spawn(
        db.run(budget_alert, budget_id=budget.budget_id, month=month, spent=spent),
        name="budget-alert",
    )


def reset_for_tests() -> None:
    _ledger.clear()
    _alerted.clear()
