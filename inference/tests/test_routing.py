"""Provider choice: sticky by key (rendezvous hashing), weighted, healthy first."""

from collections import Counter

import pytest

from inference import routing
from inference.catalog import Route


def route(n: int, weight: int = 1) -> Route:
    return Route(
        n, f"prov_{n}", f"P{n}", "vllm", f"http://127.0.0.1:{9000 + n}/v1", None, weight
    )


ROUTES = (route(1), route(2), route(3))


@pytest.fixture(autouse=True)
def _healthy():
    routing.reset_for_tests()
    yield
    routing.reset_for_tests()


def test_a_key_always_gets_the_same_first_provider():
    first = routing.candidates(ROUTES, "conv_abc")[0]
    assert all(routing.candidates(ROUTES, "conv_abc")[0] == first for _ in range(50))


def test_keys_spread_over_providers():
    firsts = Counter(
        routing.candidates(ROUTES, f"conv_{i}")[0].provider_id for i in range(3000)
    )
    assert set(firsts) == {1, 2, 3}
    assert min(firsts.values()) > 800


def test_removing_a_provider_only_moves_its_own_keys():
    """Consistent hashing: keys on the providers that stay do not move."""
    keys = [f"user-{i}" for i in range(1000)]
    before = {k: routing.candidates(ROUTES, k)[0].provider_id for k in keys}
    after = {k: routing.candidates(ROUTES[:2], k)[0].provider_id for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == 3 for k in moved)


def test_weights_bias_the_choice():
    weighted = (route(1, weight=3), route(2, weight=1))
    firsts = Counter(
        routing.candidates(weighted, f"k{i}")[0].provider_id for i in range(4000)
    )
    assert 2.4 < firsts[1] / firsts[2] < 3.8
    unsticky = Counter(
        routing.candidates(weighted, None)[0].provider_id for _ in range(4000)
    )
    assert 2.4 < unsticky[1] / unsticky[2] < 3.8


def test_unhealthy_providers_go_last():
    key = "conv_x"
    preferred = routing.candidates(ROUTES, key)[0]
    routing._unhealthy[preferred.provider_id] = 0.0
    order = routing.candidates(ROUTES, key)
    assert order[-1] == preferred
    assert len(order) == 3
