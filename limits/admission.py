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
from janserver.principal import Principal
from limits import budgets, rules
from limits.rules import Kind, Meter
from limits.store import LocalStore, RedisStore, Refused, Settlement, Taken

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


def rate_headers(taken: list[Taken]) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers, for the tightest request and token limits (the
    least remaining; of equals, the lowest limit)."""
    tightest: dict[str, Taken] = {}
    for t in taken:
        kind = t.meter.kind
        if kind == Kind.REQUESTS or kind == Kind.TOKENS:
            held = tightest.get(kind)
            if held is None or (t.remaining, t.meter.limit) < (
                held.remaining,
                held.meter.limit,
            ):
                tightest[kind] = t
    headers: dict[str, str] = {}
    for kind in (Kind.REQUESTS, Kind.TOKENS):
        tight = tightest.get(kind)
        if tight is not None:
            headers[f"x-ratelimit-limit-{kind}"] = str(tight.meter.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(tight.remaining, 0))
            headers[f"x-ratelimit-reset-{kind}"] = duration(tight.reset_ms)
    return headers


@dataclass(slots=True)
class Ticket:
    """What an admitted request holds until its usage is recorded."""

    meters: tuple[Meter, ...]
    slot: str
    reserved_tokens: int
    taken: list[Taken]
    pricing: budgets.Pricing | None = None
    settled: bool = field(default=False)

    @property
    def headers(self) -> dict[str, str]:
        return rate_headers(self.taken)

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
    current = await rules.arules()
    meters = rules.meters_for(current, principal, model)
    estimated_tokens = prompt_tokens + completion_tokens
    costs = [estimated_tokens if m.kind == Kind.TOKENS else 1 for m in meters]
    for meter, cost in zip(meters, costs, strict=True):
        never = _never(meter, model, cost)
        if never is not None:
            raise never
    found = rules.budgets_for(current, principal)
    price = rules.price_for(current, principal.organization_id, model)
    pricing, month, spent = None, budgets.month_of(), {}
    by_meter: dict[str, rules.BudgetRule] = {}
    if found and price is not None:
        pricing = budgets.pricing(price, prompt_tokens, completion_tokens)
        for budget in found:
            meter = budgets.meter(budget, month)
            meters.append(meter)
            costs.append(pricing.estimate)
            by_meter[meter.key] = budget
            spent[meter.key] = await budgets.ledger_spent(budget, month)
    if not meters:
        return None
    slot = new_slot()
    try:
        result = await store().acquire(meters, costs, slot, _now_ms(), spent)
    except STORE_ERRORS:
        if settings.RATE_LIMIT_FAIL_OPEN:
            logger.warning("Rate limits unchecked: Redis is unreachable (fail open)")
            return None
        raise ServiceUnavailable(
            "Rate limits cannot be checked right now. Retry shortly.", retry_after=5
        ) from None
    if isinstance(result, Refused):
        cost = costs[meters.index(result.meter)]
        if result.meter.kind == Kind.BUDGET:
            raise budgets.exhausted(by_meter[result.meter.key], result.used, cost)
        raise _refusal(result, model, cost)
    for taken in result:
        if taken.meter.kind == Kind.BUDGET:
            budget = by_meter[taken.meter.key]
            budgets.alert_if_due(budget, month, taken.meter.limit - taken.remaining)
    return Ticket(tuple(meters), slot, estimated_tokens, result, pricing)


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
