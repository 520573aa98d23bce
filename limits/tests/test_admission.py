"""Admission in one process: each caller's plan for a model is worked out once per
rules, a request no waiting can admit is refused without asking the store, and the
headers name the tightest limits. The counters are in memory (no REDIS_URL); the
end-to-end behaviour is in test_enforcement.py."""

import asyncio
import json
import time
from types import SimpleNamespace

import pytest

from janserver.errors import RateLimited
from janserver.principal import Principal, PrincipalKind
from limits import admission, rules
from limits.rules import Kind, Rules, row_meters
from limits.store import Admitted, MeterSet, Taken

MODEL = "jan-v1-4b"


def limits_row(model: str = "", **limits) -> SimpleNamespace:
    fields = dict.fromkeys(name for name, *_rest in rules.METERED_FIELDS)
    return SimpleNamespace(organization_id=1, model=model, **{**fields, **limits})


@pytest.fixture
def current(settings) -> Rules:
    """Rules as loaded: a key's limits for every model, its project's for MODEL."""
    settings.REDIS_URL = ""
    loaded = Rules(loaded_at=time.monotonic() + 3600)  # never reloaded here
    key_row = limits_row(max_requests_per_1_minute=100, max_tokens_per_1_minute=5000,
                         max_concurrent_requests=4)  # fmt: skip
    project_row = limits_row(MODEL, max_requests_per_1_minute=50,
                             max_tokens_per_1_minute=2000)  # fmt: skip
    loaded.by_scope[("api_key", 5)] = {"": row_meters(key_row, "api_key", 5, "key_x")}
    loaded.by_scope[("project", 3)] = {
        MODEL: row_meters(project_row, "project", 3, "proj_x")
    }
    rules._rules, rules._stale = loaded, False
    return loaded


def key_caller(key: int = 5, project: int = 3) -> Principal:
    return Principal(PrincipalKind.PROJECT_KEY, (7, "user_x"), 1, "org_x", project,
                     "proj_x", key, "key_x")  # fmt: skip


def user_caller(user: int) -> Principal:
    return Principal(PrincipalKind.USER, (user, f"user_{user}"),
                     member_organization_ids=(1,))  # fmt: skip


def admit(caller: Principal, prompt: int = 10, completion: int = 100):
    return asyncio.run(
        admission.admit(
            caller, MODEL, prompt_tokens=prompt, completion_tokens=completion
        )
    )


def test_a_callers_plan_is_worked_out_once_per_model_and_rules(current):
    plan = admission.plan_for(current, key_caller(), MODEL)
    assert admission.plan_for(current, key_caller(), MODEL) is plan
    assert [(m.scope, m.kind) for m in plan.meters.meters] == [
        ("project", Kind.REQUESTS), ("project", Kind.TOKENS),
        ("api_key", Kind.REQUESTS), ("api_key", Kind.TOKENS),
        ("api_key", Kind.CONCURRENT),
    ]  # fmt: skip
    assert plan.token_ceiling == 2000
    assert not plan.blocked
    # Another model: only the key's limits; another key of the project: the project's.
    other_model = admission.plan_for(current, key_caller(), "other")
    assert [m.scope for m in other_model.meters.meters] == ["api_key"] * 3
    other_key = admission.plan_for(current, key_caller(key=6), MODEL)
    assert [m.scope for m in other_key.meters.meters] == ["project"] * 2
    # Reloaded rules (a new Rules) work the plan out again, from their own rows.
    reloaded = Rules(loaded_at=time.monotonic(), by_scope=dict(current.by_scope))
    del reloaded.by_scope[("project", 3)]
    again = admission.plan_for(reloaded, key_caller(), MODEL)
    assert again is not plan
    assert [m.scope for m in again.meters.meters] == ["api_key"] * 3


def test_plans_are_forgotten_past_their_cap(current, monkeypatch):
    monkeypatch.setattr(admission, "MAX_PLANS", 2)
    first = admission.plan_for(current, key_caller(), MODEL)
    admission.plan_for(current, key_caller(), "a")
    admission.plan_for(current, key_caller(), "b")  # the cap: the two before go
    assert len(current.plans) == 1
    assert admission.plan_for(current, key_caller(), MODEL) is not first


def test_login_users_of_an_organization_each_have_a_plan_of_their_own(current):
    current.per_user[1] = {
        "": row_meters(limits_row(max_requests_per_1_minute=2), "user", 1, "")
    }
    first = admission.plan_for(current, user_caller(11), MODEL)
    second = admission.plan_for(current, user_caller(12), MODEL)
    assert first is not second
    assert first.meters.keys[0].endswith(":u11")
    assert second.meters.keys[0].endswith(":u12")
    assert first.meters.meters[0].scope_id == "user_11"
    for _ in range(2):
        admit(user_caller(11))
    with pytest.raises(RateLimited):
        admit(user_caller(11))
    assert admit(user_caller(12)) is not None  # the other user's own two


def test_a_request_no_wait_can_admit_is_refused_at_once(current):
    with pytest.raises(RateLimited) as error:
        admit(key_caller(), prompt=1000, completion=1001)  # 2001 > the project's 2000
    assert "needs up to 2001 tokens" in error.value.message
    assert "2000 in project proj_x" in error.value.message
    assert error.value.headers["x-should-retry"] == "false"
    assert admit(key_caller(), prompt=1000, completion=1000) is not None  # exactly

    blocked = limits_row(max_requests_per_1_minute=0)
    current.by_scope[("api_key", 9)] = {"": row_meters(blocked, "api_key", 9, "key_z")}
    with pytest.raises(RateLimited) as error:
        admit(key_caller(key=9, project=4))
    assert "blocked in api key key_z" in error.value.message


def test_the_headers_name_the_tightest_limits(current, monkeypatch):
    monkeypatch.setattr(admission, "_now_ms", lambda: 1_800_000_000_000)  # no refill
    ticket = admit(key_caller(), prompt=10, completion=100)
    assert ticket is not None
    # Requests: the project's 50 leave 49, the key's 100 leave 99; tokens: the
    # project's 2000 leave 1890.
    assert ticket.headers == {
        "x-ratelimit-limit-requests": "50",
        "x-ratelimit-remaining-requests": "49",
        "x-ratelimit-reset-requests": "1.2s",
        "x-ratelimit-limit-tokens": "2000",
        "x-ratelimit-remaining-tokens": "1890",
        "x-ratelimit-reset-tokens": "3.3s",
    }
    ticket.settle(10, 40)  # 60 tokens of the 110 reserved come back
    again = admit(key_caller(), prompt=10, completion=100)
    assert again.headers["x-ratelimit-remaining-tokens"] == "1840"


def test_a_meter_set_is_the_scripts_text_with_the_amounts_filled_in():
    rpm, tpm, slots = row_meters(
        limits_row(max_requests_per_1_minute=9, max_tokens_per_1_minute=90,
                   max_concurrent_requests=3), "project", 3, "proj_x")  # fmt: skip
    budget = rules.Meter("b", Kind.BUDGET, 500, 0, "project", "proj_x", "", "budget")
    meters = MeterSet([rpm, tpm, slots, budget])
    assert meters.keys == (rpm.key, tpm.key, slots.key, "b")
    assert json.loads(meters.admission(42, cost=7, spent={"b": 120})) == [
        "r", 9, 60_000, 1, "r", 90, 60_000, 42, "c", 3, 0, 1, "b", 500, 120, 7,
    ]  # fmt: skip
    assert json.loads(MeterSet([rpm, tpm]).admission(5)) == [
        "r", 9, 60_000, 1, "r", 90, 60_000, 5,
    ]  # fmt: skip
    assert (meters.requests_at, meters.tokens_at) == ((0,), (1,))


def test_an_admitted_answer_reads_as_each_meters_taken():
    rpm, tpm = row_meters(
        limits_row(max_requests_per_1_minute=9, max_tokens_per_1_minute=90),
        "project", 3, "proj_x",
    )  # fmt: skip
    admitted = Admitted(MeterSet([rpm, tpm]), [8, 100, 50, 200])
    assert len(admitted) == 2
    assert list(admitted) == [Taken(rpm, 8, 100), Taken(tpm, 50, 200)]
    assert admitted[-1] == Taken(tpm, 50, 200)
    assert admitted[1:] == [Taken(tpm, 50, 200)]
    with pytest.raises(IndexError):
        admitted[2]
