"""Inference request checks: every field that multiplies the model's work is bounded."""

import json

import pytest

from inference.payloads import CHAT, COMPLETIONS, check_context, parse
from janserver.errors import InvalidRequest

CHAT_BASE = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


def _error(body: dict, endpoint=CHAT) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as raised:
        parse(json.dumps(body).encode(), endpoint)
    return raised.value


@pytest.mark.parametrize(
    ("extra", "param", "message"),
    [
        ({"n": 9}, "n", "`n` must be an integer from 1 to 8."),
        ({"best_of": 9}, "best_of", "`best_of` must be an integer from `n` (1) to 8."),
        ({"n": 3, "best_of": 2}, "best_of", "`best_of` must be an integer from `n` (3) to 8."),
        ({"best_of": "4"}, "best_of", "`best_of` must be an integer from `n` (1) to 8."),
        ({"use_beam_search": "yes"}, "use_beam_search", "`use_beam_search` must be a boolean."),
        ({"ignore_eos": 1}, "ignore_eos", "`ignore_eos` must be a boolean."),
        ({"min_tokens": -1}, "min_tokens", "`min_tokens` must be an integer of at least 0."),
        ({"min_tokens": 1.5}, "min_tokens", "`min_tokens` must be an integer of at least 0."),
        ({"top_logprobs": 21}, "top_logprobs", "`top_logprobs` must be an integer from 0 to 20."),
        ({"prompt_logprobs": 100}, "prompt_logprobs", "`prompt_logprobs` must be an integer from 0 to 20."),
    ],
)  # fmt: skip
def test_work_multipliers_are_bounded(extra, param, message):
    error = _error({**CHAT_BASE, **extra})
    assert (error.param, error.message) == (param, message)


def test_completions_logprobs_count_is_bounded():
    body = {"model": "m", "prompt": "Hi", "logprobs": 21}
    error = _error(body, COMPLETIONS)
    assert error.param == "logprobs"


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 2, "best_of": 4, "use_beam_search": True},
        {"ignore_eos": True, "min_tokens": 10, "max_tokens": 10},
        {"top_logprobs": 20, "logprobs": True},
        {"n": None, "best_of": None},
    ],
)
def test_bounded_values_pass(extra):
    parse(json.dumps({**CHAT_BASE, **extra}).encode(), CHAT)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"min_tokens": 11, "max_tokens": 10}, "`min_tokens` (11) is larger than `max_tokens` (10)."),
        ({"min_tokens": 5000}, "`min_tokens` (5000) is larger than the model's context length (4096)."),
    ],
)  # fmt: skip
def test_min_tokens_stays_within_max_tokens_and_the_context(extra, message):
    request = parse(json.dumps({**CHAT_BASE, **extra}).encode(), CHAT)
    with pytest.raises(InvalidRequest) as raised:
        check_context(request, 4096)
    assert (raised.value.param, raised.value.message) == ("min_tokens", message)
