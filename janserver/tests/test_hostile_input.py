"""Property-based: generated bodies on every JSON write route never get a 500, always
get OpenAI's error shape when refused, and a refused body stores nothing.

The examples are derandomized (the same every run: CI cannot flake on them); for a
wider search, run with more examples and random seeds, e.g. by editing `settings`
below to `max_examples=500, derandomize=False` (on PostgreSQL too).

Bodies mix each route's own fields with unknown ones, and values of every JSON type
with hostile ones: NUL and lone surrogates in keys and strings, nesting past the
reader's limit, numbers beyond 64 bits and beyond a double, wrong types, huge text.
"""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from janserver.tests.test_json_body import WRITE_ROUTES, stored_counts

pytestmark = pytest.mark.django_db

FIELDS = [
    "model", "messages", "prompt", "input", "stream", "n", "best_of", "max_tokens",
    "min_tokens", "temperature", "top_logprobs", "tools", "metadata", "title",
    "items", "name", "instruction", "workspace_id", "conversation", "store",
    "background", "previous_response_id", "role", "email", "projects", "code",
    "description", "base_url", "api_key", "vendor", "content", "type",
    "password", "password1", "password2", "invite_code", "key", "max_tool_calls",
    "tool_choice", "input_per_million", "output_per_million", "is_favorite",
    "is_archived", "project_id",
]  # fmt: skip

HOSTILE_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfff",
        "\U0001f600",
        "",
        " ",
        "é" * 3,
        "x" * 20_000,
    ]
)
TEXT = st.one_of(st.text(max_size=40), HOSTILE_TEXT)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**63, 10**30, 1e308]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), children, max_size=4),
    ),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


BODIES = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), VALUES, max_size=8),
    st.builds(lambda key, depth: {key: _deep(depth)}, st.sampled_from(FIELDS), st.integers(30, 80)),
    VALUES,  # not even an object
)  # fmt: skip


def _encoded(body: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \\udXXX escapes, as a client's JSON would.
    return json.dumps(body, ensure_ascii=True).encode()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(body=BODIES)
@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
def test_no_generated_body_gets_a_500_or_is_half_stored(
    method, path, body, owner_client
):
    client, ids = owner_client
    before = stored_counts()
    response = getattr(client, method)(
        path.format(**ids), _encoded(body), content_type="application/json"
    )
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["message"]
        assert stored_counts() == before
