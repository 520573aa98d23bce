"""Admitting a request under its rate limits: reserve before the upstream is called,
settle with the real usage after it.

admit() takes every meter that applies (the organization's, the project's and the
key's; for the model and for every model) in one round trip to the store: a request
counts 1 against request limits, its estimate (prompt estimate + n times max_tokens)
against token limits, and a slot against concurrency limits. The Ticket it returns is
settled once, when the request's usage is recorded (inference.accounting): the tokens'
difference from the estimate is charged or refunded, the slot released, off the
request's path (limits.store sends each turn of the event loop's calls in one batch).
"""

import itertools
import logging
import math
import os
import secrets
import time
from dataclasses import dataclass, field

from django.conf import settings
from redis import exceptions as redis_exceptions

from janserver.errors import RateLimited, ServiceUnavailable
from janserver.principal import Principal, PrincipalKind
from limits import budgets, rules
from limits.rules import Kind, Meter
from limits.store import (
    Admitted,
    LocalStore,
    MeterSet,
    RedisStore,
    Refused,
    Settlement,
    cost_of,
)

logger = logging.getLogger("janserver.limits")

STORE_ERRORS = (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError)


def _now_ms() -> int:
    return int(time.time() * 1000)


def duration(ms: int) -> str:
    """A duration as OpenAI's x-ratelimit-reset-* headers write it: 20ms, 1.5s, 6m0s."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


_REQUEST_HEADERS = tuple(
    f"x-ratelimit-{part}-requests" for part in ("limit", "remaining", "reset")
)
_TOKEN_HEADERS = tuple(
    f"x-ratelimit-{part}-tokens" for part in ("limit", "remaining", "reset")
)


def rate_headers(admitted: Admitted) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers, for the tightest request and token limits (the
    least remaining; of equals, the lowest limit)."""
    meters, answer = admitted.meters.meters, admitted.answer
    headers: dict[str, str] = {}
    for names, at in (
        (_REQUEST_HEADERS, admitted.meters.requests_at),
        (_TOKEN_HEADERS, admitted.meters.tokens_at),
    ):
        tight = -1
        for i in at:
            if tight < 0 or (answer[2 * i], meters[i].limit) < (
                answer[2 * tight],
                meters[tight].limit,
            ):
                tight = i
        if tight >= 0:
            headers[names[0]] = str(meters[tight].limit)
            headers[names[1]] = str(max(answer[2 * tight], 0))
            headers[names[2]] = duration(answer[2 * tight + 1])
    return headers


@dataclass(slots=True)
class Ticket:
    """What an admitted request holds until its usage is recorded."""

    meters: MeterSet
    slot: str
    reserved_tokens: int
    admitted: Admitted
    pricing: budgets.Pricing | None = None
    settled: bool = field(default=False)

    @property
    def headers(self) -> dict[str, str]:
        return rate_headers(self.admitted)

    def settle(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Give back the slot and charge or refund the tokens and cost (once)."""
        if self.settled:
            return
        self.settled = True
        delta = prompt_tokens + completion_tokens - self.reserved_tokens
        cost_delta = 0
        if self.pricing is not None:
            used = self.pricing.cost(prompt_tokens, completion_tokens)
            cost_delta = used - self.pricing.estimate
        _queue(Settlement(self.meters, self.slot, delta, cost_delta))


def _refusal(refused: Refused, model: str, cost: int) -> RateLimited:
    meter = refused.meter
    where = f"{meter.scope.replace('_', ' ')} {meter.scope_id}"
    message = (
        f"Rate limit reached for {model} in {where} on {meter.name}: "
        f"Limit {meter.limit}, Used {refused.used}, Requested {cost}."
    )
    retry_ms = refused.retry_after_ms
    if retry_ms is None:
        message += " Please try again when one of your requests has finished."
        retry_ms = 1000
    else:
        message += f" Please try again in {duration(retry_ms)}."
    error = RateLimited(message, retry_after=math.ceil(retry_ms / 1000))
    error.headers["retry-after-ms"] = str(max(retry_ms, 0))
    if meter.kind != Kind.CONCURRENT:
        error.headers[f"x-ratelimit-limit-{meter.kind}"] = str(meter.limit)
        error.headers[f"x-ratelimit-remaining-{meter.kind}"] = "0"
        error.headers[f"x-ratelimit-reset-{meter.kind}"] = duration(retry_ms)
    return error


def _never(meter: Meter, model: str, cost: int) -> RateLimited | None:
    """The error for a request no waiting can admit (a limit of 0, or a cost above
    the limit); None if waiting can."""
    where = f"{meter.scope.replace('_', ' ')} {meter.scope_id}"
    if meter.limit == 0:
        message = f"{model} is blocked in {where}: its {meter.name} limit is 0."
    elif meter.kind == Kind.TOKENS and cost > meter.limit:
        message = (
            f"This request to {model} needs up to {cost} tokens (its prompt and "
            f"max_tokens), more than the {meter.name} limit of {meter.limit} in "
            f"{where}. Lower max_tokens or shorten the prompt."
        )
    else:
        return None
    error = RateLimited(message)
    error.headers["x-should-retry"] = "false"  # the openai SDK would retry a 429
    return error


@dataclass(frozen=True, slots=True)
class Plan:
    """What admitting a caller's requests to one model takes, worked out once for as
    long as the rules stand (kept with them): the rate meters, whether a request can
    be refused without asking the store (a limit of 0; `token_ceiling`, the lowest
    token limit, below a request's estimate), and the budgets and price that apply."""

    meters: MeterSet
    blocked: bool  # some meter's limit is 0
    token_ceiling: int | None
    budgets: tuple[rules.BudgetRule, ...]
    price: tuple[float, float] | None


# Plans kept with one Rules (callers times models); past it they are worked out anew.
MAX_PLANS = 10_000


def plan_for(current: rules.Rules, principal: Principal, model: str) -> Plan:
    """The caller's plan for `model` under these rules (see Plan)."""
    own = principal.kind == PrincipalKind.USER and bool(current.per_user)
    key = (
        principal.organization_id,
        principal.project_id,
        principal.api_key_id,
        model,
        principal.user_id if own else None,
        principal.member_organization_ids if own else (),
    )
    plan = current.plans.get(key)
    if plan is None:
        if len(current.plans) >= MAX_PLANS:
            current.plans.clear()
        meters = rules.meters_for(current, principal, model)
        ceilings = [m.limit for m in meters if m.kind == Kind.TOKENS]
        plan = current.plans[key] = Plan(
            MeterSet(meters),
            any(m.limit == 0 for m in meters),
            min(ceilings) if ceilings else None,
            tuple(rules.budgets_for(current, principal)),
            rules.price_for(current, principal.organization_id, model),
        )
    return plan


async def admit(
    principal: Principal, model: str, *, prompt_tokens: int, completion_tokens: int
) -> Ticket | None:
    """Take every meter that applies to this request (its estimate: `prompt_tokens`
    and `completion_tokens` at most), or raise RateLimited (429) naming the limit hit,
    `insufficient_quota` for a budget. Returns None when nothing applies (no round
    trip).

    With the store unreachable: admitted without limits when RATE_LIMIT_FAIL_OPEN,
    else ServiceUnavailable (503).
    """
    plan = plan_for(await rules.arules(), principal, model)
    meters = plan.meters
    tokens = prompt_tokens + completion_tokens
    if plan.blocked or (plan.token_ceiling is not None and tokens > plan.token_ceiling):
        for meter in meters.meters:
            never = _never(meter, model, cost_of(meter, tokens, 0))
            if never is not None:
                raise never
    pricing, cost, spent, month = None, 0, None, None
    by_meter: dict[str, rules.BudgetRule] = {}
    if plan.budgets and plan.price is not None:
        month = budgets.month_of()
        pricing = budgets.pricing(plan.price, prompt_tokens, completion_tokens)
        cost, spent = pricing.estimate, {}
        found = [budgets.meter(budget, month) for budget in plan.budgets]
        for budget, meter in zip(plan.budgets, found, strict=True):
            by_meter[meter.key] = budget
            spent[meter.key] = await budgets.ledger_spent(budget, month)
        meters = MeterSet((*meters.meters, *found))
    if not meters.meters:
        return None
    slot = new_slot()
    try:
        result = await store().acquire(meters, slot, _now_ms(), tokens, cost, spent)
    except STORE_ERRORS:
        if settings.RATE_LIMIT_FAIL_OPEN:
            logger.warning("Rate limits unchecked: Redis is unreachable (fail open)")
            return None
        raise ServiceUnavailable(
            "Rate limits cannot be checked right now. Retry shortly.", retry_after=5
        ) from None
    if isinstance(result, Refused):
        asked = cost_of(result.meter, tokens, cost)
        if result.meter.kind == Kind.BUDGET:
            raise budgets.exhausted(by_meter[result.meter.key], result.used, asked)
        raise _refusal(result, model, asked)
    if month is not None:
        for taken in result:
            if taken.meter.kind == Kind.BUDGET:
                budget = by_meter[taken.meter.key]
                used = taken.meter.limit - taken.remaining
                budgets.alert_if_due(budget, month, used)
    return Ticket(meters, slot, tokens, result, pricing)


_slot_prefix = secrets.token_hex(6)
_slot_numbers = itertools.count()


def new_slot() -> str:
    """A concurrency slot's id, unique across processes and replicas: this process's
    random prefix and a counter (no system call per request, as os.urandom makes)."""
    return f"{_slot_prefix}{next(_slot_numbers):x}"


def _reseed_slots() -> None:
    """A forked worker (gunicorn's preload) draws a prefix of its own."""
    global _slot_prefix, _slot_numbers
    _slot_prefix, _slot_numbers = secrets.token_hex(6), itertools.count()


os.register_at_fork(after_in_child=_reseed_slots)


_store: RedisStore | LocalStore | None = None
_store_url: str | None = None


def store() -> RedisStore | LocalStore:
    """The counters' store: Redis with REDIS_URL, else this process's memory."""
    global _store, _store_url
    if _store is None or _store_url != settings.REDIS_URL:
        _store = RedisStore() if settings.REDIS_URL else LocalStore()
        _store_url = settings.REDIS_URL
    return _store


def _queue(settlement: Settlement) -> None:
    """Settle off the request's path: Redis gets it with its next batch."""
    try:
        store().settle(settlement, _now_ms())
    except (
        RuntimeError
    ):  # no event loop (a sync caller): the slot expires with its lease
        logger.warning("A rate-limit ticket was finished outside an event loop")


def reset_for_tests() -> None:
    """Forget the store (and its counters, in memory)."""
    global _store, _store_url
    _store, _store_url = None, None
    rules.reset_for_tests()
    budgets.reset_for_tests()
