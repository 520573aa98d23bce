"""Which limits apply to a request: every process keeps all rate-limit rows in memory.

Rows change rarely and are read on every request, so they are loaded whole (one query)
and reloaded when a change is broadcast (janserver.auth_cache, as the model catalog)
or after RATE_LIMIT_REFRESH_SECONDS.
"""

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings

from janserver import auth_cache, db
from janserver.principal import Principal, PrincipalKind

logger = logging.getLogger("janserver.limits")

MINUTE_MS = 60_000
DAY_MS = 86_400_000


class Kind:
    """What a meter counts."""

    REQUESTS = "requests"
    TOKENS = "tokens"
    CONCURRENT = "concurrent"
    BUDGET = "budget"  # nanodollars spent (and reserved) this calendar month


# Spend is counted in nanodollars: whole numbers that Redis's Lua (doubles) holds
# exactly up to millions of dollars.
NANO_PER_USD = 10**9


# A row's fields as meters: (field, kind, window in ms (0: concurrency), OpenAI's name,
# the end of its counter's key).
METERED_FIELDS = (
    ("max_requests_per_1_minute", Kind.REQUESTS, MINUTE_MS, "requests per min (RPM)", "rpm"),
    ("max_tokens_per_1_minute", Kind.TOKENS, MINUTE_MS, "tokens per min (TPM)", "tpm"),
    ("max_requests_per_1_day", Kind.REQUESTS, DAY_MS, "requests per day (RPD)", "rpd"),
    ("max_concurrent_requests", Kind.CONCURRENT, 0, "concurrent requests", "cc"),
)  # fmt: skip

# A scope as its counters' keys name it (every request sends its meters' keys).
SCOPE_LETTERS = {"organization": "o", "project": "p", "api_key": "k", "user": "u"}


# How the store's script names each kind of meter (limits.store.SCRIPT).
SCRIPT_LETTERS = {
    Kind.REQUESTS: "r",
    Kind.TOKENS: "r",
    Kind.CONCURRENT: "c",
    Kind.BUDGET: "b",
}


@dataclass(frozen=True, slots=True)
class Meter:
    """One limit on one scope: what it counts, how much, over which window."""

    key: str  # its counter's name, shared by every process
    kind: str
    limit: int
    window_ms: int
    scope: str  # organization, project or api_key
    scope_id: str  # the scope's public id, for messages
    model: str  # "" for every model
    name: str  # e.g. "requests per min (RPM)"
    # '"kind",limit,window,' as the store's script reads a meter, made once (a
    # budget's window is its ledger's spend, written per request instead).
    head: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        letter = SCRIPT_LETTERS[self.kind]
        head = f'"{letter}",{self.limit},{self.window_ms},'
        object.__setattr__(self, "head", head)


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """A scope's monthly budget, in nanodollars (None: no cap, or no alert)."""

    budget_id: int
    scope: str
    scope_pk: int
    scope_id: str  # the scope's public id, for messages
    organization_id: int
    project_id: int | None
    api_key_id: int | None
    cap: int | None
    alert: int | None
    alerted_month: date | None


@dataclass(slots=True)
class Rules:
    """Every scope's meters: (scope, database id) → model ("" = every) → meters; every
    scope's budget; and the prices of models, in nanodollars per input and output token,
    by (organization id, or None for the global price; model)."""

    loaded_at: float
    by_scope: dict[tuple[str, int], dict[str, tuple[Meter, ...]]] = field(
        default_factory=dict
    )
    budgets: dict[tuple[str, int], BudgetRule] = field(default_factory=dict)
    # Limits each login user of an organization has of their own: organization id →
    # model → meters, whose keys get the user's id.
    per_user: dict[int, dict[str, tuple[Meter, ...]]] = field(default_factory=dict)
    prices: dict[tuple[int | None, str], tuple[float, float]] = field(
        default_factory=dict
    )
    # What admitting each caller's requests to each model takes under these rules,
    # worked out on first use (limits.admission.Plan, by caller and model).
    plans: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def row_meters(row, scope: str, scope_pk: int, scope_id: str) -> tuple[Meter, ...]:
    """A rate-limit row's meters (its limits that are set), counted for `scope`."""
    meters = []
    for name, kind, window_ms, label, code in METERED_FIELDS:
        limit = getattr(row, name)
        if limit is None:
            continue
        # One hash tag per organization: a request's keys sit in one Redis Cluster
        # slot, as one script call needs. E.g. "janserver:rl:{o3}:k12:jan-v1-4b:tpm".
        key = (
            f"{settings.RATE_LIMIT_KEY_PREFIX}{_salt}{{o{row.organization_id}}}:"
            f"{SCOPE_LETTERS[scope]}{scope_pk}:{row.model}:{code}"
        )
        meters.append(
            Meter(key, kind, limit, window_ms, scope, scope_id, row.model, label)
        )
    return tuple(meters)


def _scope_of(row) -> tuple[str, int, str]:
    if row.api_key is not None:
        return "api_key", row.api_key.pk, row.api_key.public_id
    if row.project is not None:
        return "project", row.project.pk, row.project.public_id
    return "organization", row.organization_id, row.organization.public_id


def _nano(usd: Decimal | None) -> int | None:
    return None if usd is None else int(usd * NANO_PER_USD)


def load() -> Rules:
    """Read every limit, budget and price (three queries)."""
    from limits.models import Budget, RateLimit
    from usage.models import ModelPrice

    rules = Rules(loaded_at=time.monotonic())
    related = ("organization", "project", "api_key")
    for budget in Budget.objects.select_related(*related):
        scope, pk, public_id = _scope_of(budget)
        rules.budgets[(scope, pk)] = BudgetRule(
            budget.pk,
            scope,
            pk,
            public_id,
            budget.organization_id,
            budget.project_id,
            budget.api_key_id,
            _nano(budget.monthly_limit_usd),
            _nano(budget.alert_threshold_usd),
            budget.alerted_month,
        )
    for price in ModelPrice.objects.all():
        # USD per million tokens → nanodollars per token.
        rules.prices[(price.organization_id, price.model)] = (
            float(price.input_per_million) * 1000,
            float(price.output_per_million) * 1000,
        )
    for row in RateLimit.objects.select_related(*related):
        if row.per_user:
            meters = row_meters(row, "user", row.organization_id, "")
            rules.per_user.setdefault(row.organization_id, {})[row.model] = meters
            continue
        scope, pk, public_id = _scope_of(row)
        models = rules.by_scope.setdefault((scope, pk), {})
        models[row.model] = row_meters(row, scope, pk, public_id)
    return rules


_rules: Rules | None = None
_stale = True
_salt = ""  # "" but in tests: each test counts on counters of its own
_refreshing: asyncio.Task[None] | None = None


def mark_stale() -> None:
    global _stale
    _stale = True


def invalidate() -> None:
    """Reload the rows here and, once the transaction commits, in every process."""
    auth_cache.invalidate("rate_limits")


auth_cache.on_invalidate("rate_limits", mark_stale)


def _refresh() -> Rules:
    global _rules, _stale
    _stale = False
    try:
        _rules = load()
    except Exception:
        _stale = True
        raise
    return _rules


async def arules() -> Rules:
    """The rules of this process, loaded on first use; once loaded, stale rules are
    served while a task reloads them."""
    global _refreshing
    if _rules is None:
        return await db.run(_refresh)
    age = time.monotonic() - _rules.loaded_at
    if (_stale or age > settings.RATE_LIMIT_REFRESH_SECONDS) and (
        _refreshing is None or _refreshing.done()
    ):
        _refreshing = asyncio.get_running_loop().create_task(_reload())
    return _rules


async def _reload() -> None:
    try:
        await db.run(_refresh)
    except Exception:
        logger.exception("Could not reload the rate limits; keeping the previous ones")


def _scopes(principal: Principal) -> tuple[tuple[str, int | None], ...]:
    return (
        ("organization", principal.organization_id),
        ("project", principal.project_id),
        ("api_key", principal.api_key_id),
    )


def meters_for(rules: Rules, principal: Principal, model: str) -> list[Meter]:
    """Every meter that applies to this caller using `model`: the organization's,
    the project's and the key's, each for this model and for every model."""
    meters: list[Meter] = []
    for scope, pk in _scopes(principal):
        if pk is None:
            continue
        models = rules.by_scope.get((scope, pk))
        if models:
            meters.extend(models.get("", ()))
            if model:
                meters.extend(models.get(model, ()))
    if principal.kind == PrincipalKind.USER and rules.per_user:
        meters.extend(_user_meters(rules, principal, model))
    return meters


def _user_meters(rules: Rules, principal: Principal, model: str) -> list[Meter]:
    """A login user's own limits, from each organization they belong to."""
    found = []
    for organization_id in principal.member_organization_ids:
        models = rules.per_user.get(organization_id)
        if not models:
            continue
        for meter in (*models.get("", ()), *(models.get(model, ()) if model else ())):
            found.append(
                replace(
                    meter,
                    key=f"{meter.key}:u{principal.user_id}",
                    scope_id=principal.user_public_id,
                )
            )
    return found


def budgets_for(rules: Rules, principal: Principal) -> list[BudgetRule]:
    """The budgets of this caller's organization, project and key."""
    found = []
    for scope, pk in _scopes(principal):
        if pk is not None and (budget := rules.budgets.get((scope, pk))) is not None:
            found.append(budget)
    return found


def price_for(
    rules: Rules, organization_id: int | None, model: str
) -> tuple[float, float] | None:
    """Nanodollars per input and output token of `model` for this organization: its
    own price, else the global one; None without a price (the model costs nothing)."""
    own = rules.prices.get((organization_id, model))
    return own if own is not None else rules.prices.get((None, model))


def budget_key(budget: BudgetRule, month: str) -> str:
    """The counter of a budget's spend in one month ("2026-12")."""
    return (
        f"{settings.RATE_LIMIT_KEY_PREFIX}{_salt}{{o{budget.organization_id}}}:"
        f"budget:{budget.scope}:{budget.scope_pk}:{month}"
    )


def reset_for_tests() -> None:
    """Forget the rules (the next request loads them anew) and start counting on new
    counters (database ids are reused between tests; Redis keeps counters)."""
    global _rules, _stale, _refreshing, _salt
    _rules, _stale, _refreshing = None, True, None
    _salt = secrets.token_hex(4) + ":"
