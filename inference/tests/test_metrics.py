"""Prometheus metrics: names and labels, the protected /metrics route, multiprocess sums."""

import os
import runpy
import subprocess
import sys
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from inference import metrics, usage
from janserver.tests.expected import UNAUTHENTICATED
from janserver.tests.live_server import ROOT

pytestmark = pytest.mark.urls("inference.tests.usage_test_urls")

ALLOWED_LABELS = {"route", "status", "model", "provider", "kind", "le"}
NOT_FOUND = {
    "error": {
        "message": "No route matches GET /metrics.",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
}


@pytest.fixture(autouse=True)
def fresh_queue():
    usage.reset_for_tests()
    yield
    usage.reset_for_tests()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def families(text: str) -> dict:
    return {
        f.name: f
        for f in text_string_to_metric_families(text)
        if f.name.startswith("janserver_")
    }


def exercise_every_metric() -> None:
    metrics.observe_request("chat.completions", 200)
    metrics.stream_started("jan-v1-4b", "vllm-a")
    metrics.observe_ttft("jan-v1-4b", "vllm-a", 0.2)
    metrics.observe_added_latency("jan-v1-4b", "vllm-a", 0.002)
    metrics.upstream_error("vllm-a", "timeout")
    metrics.usage_dropped(0)


def test_metrics_lists_every_metric_with_model_and_provider_labels_only(client):
    """Every gateway metric is exposed; no label names a key, a user or a path."""
    exercise_every_metric()
    usage.record(usage.UsageEntry(request_id="r", endpoint="x", model="m", status="ok"))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = families(response.content.decode())
    assert set(found) >= {
        "janserver_requests",
        "janserver_inflight_streams",
        "janserver_time_to_first_token_seconds",
        "janserver_gateway_added_latency_seconds",
        "janserver_upstream_errors",
        "janserver_usage_queue_depth",
        "janserver_usage_dropped",
    }
    for family in found.values():
        for s in family.samples:
            assert set(s.labels) <= ALLOWED_LABELS, (family.name, s.labels)
    depth = found["janserver_usage_queue_depth"].samples[0].value
    assert depth == 1.0
    ttft = {s.name: s for s in found["janserver_time_to_first_token_seconds"].samples}
    assert ttft["janserver_time_to_first_token_seconds_count"].labels == {
        "model": "jan-v1-4b",
        "provider": "vllm-a",
    }


def test_relay_calls_update_the_metrics():
    """Each small call moves its own series."""
    labels = {"model": "m-calls", "provider": "p-calls"}
    metrics.stream_started("m-calls", "p-calls")
    metrics.stream_started("m-calls", "p-calls")
    metrics.stream_finished("m-calls", "p-calls")
    assert sample("janserver_inflight_streams", **labels) == 1.0
    before = sample("janserver_requests_total", route="models", status="404")
    metrics.observe_request("models", 404)
    assert sample("janserver_requests_total", route="models", status="404") == (
        before + 1
    )
    metrics.observe_ttft("m-calls", "p-calls", 0.3)
    assert sample("janserver_time_to_first_token_seconds_count", **labels) == 1.0
    assert sample("janserver_time_to_first_token_seconds_sum", **labels) == 0.3
    metrics.observe_added_latency("m-calls", "p-calls", 0.004)
    assert sample(
        "janserver_gateway_added_latency_seconds_bucket", le="0.005", **labels
    ) == (1.0)


def test_unknown_route_and_error_kind_are_counted_as_other():
    """A raw path or an unexpected kind never becomes a label value."""
    before = sample("janserver_requests_total", route="other", status="200")
    metrics.observe_request("/v1/some/raw/path/123", 200)
    assert sample("janserver_requests_total", route="other", status="200") == (
        before + 1
    )
    metrics.upstream_error("p-kind", "weird")
    assert sample("janserver_upstream_errors_total", provider="p-kind", kind="other")
    assert not sample(
        "janserver_upstream_errors_total", provider="p-kind", kind="weird"
    )


def test_series_per_metric_are_capped(monkeypatch):
    """Past MAX_SERIES_PER_METRIC distinct labels, new values are counted as other."""
    children = metrics._Children(metrics.UPSTREAM_ERRORS)
    monkeypatch.setattr(metrics, "MAX_SERIES_PER_METRIC", 2)
    children.get("cap-1", "timeout").inc()
    children.get("cap-2", "timeout").inc()
    children.get("cap-3", "timeout").inc()
    children.get("cap-4", "timeout").inc()
    assert (
        sample("janserver_upstream_errors_total", provider="cap-3", kind="timeout") == 0
    )
    assert (
        sample("janserver_upstream_errors_total", provider="other", kind="other") >= 2
    )
    assert len(children.children) == 3


def test_labelled_children_are_cached():
    """The second call with the same labels reuses the child (no .labels())."""
    children = metrics._Children(metrics.INFLIGHT_STREAMS)
    assert children.get("m-cache", "p") is children.get("m-cache", "p")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_token_is_required_when_metrics_token_is_set(client, settings, headers):
    """With METRICS_TOKEN set, even loopback needs it: 401 with the error body."""
    settings.METRICS_TOKEN = "s3cret-token"
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert response["WWW-Authenticate"] == "Bearer"


def test_right_token_scrapes_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    response = client.get(
        "/metrics",
        headers={"Authorization": "Bearer s3cret-token"},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200
    assert b"janserver_usage_queue_depth" in response.content


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("127.0.0.1", 200),
        ("::1", 200),
        ("::ffff:127.0.0.1", 200),
        ("10.0.0.5", 404),
        ("203.0.113.9", 404),
        ("", 404),
    ],
)
def test_without_a_token_only_loopback_sees_metrics(client, address, status):
    """Without METRICS_TOKEN anyone but loopback gets the unknown-route 404."""
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == status
    if status == 404:
        assert response.json() == NOT_FOUND


def test_metrics_disabled_is_an_unknown_route(client, settings):
    settings.METRICS_ENABLED = False
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_only_get_is_allowed(client):
    response = client.post("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_openmetrics_is_served_when_asked(client):
    response = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text"}
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


CHILD = """
import os, sys
from inference import metrics
if "work" in sys.argv:
    metrics.observe_request("chat.completions", 200)
    metrics.stream_started("m", "p")
    metrics.set_usage_queue_depth(3)
if "scrape" in sys.argv:
    print(metrics.exposition()[0].decode())
print("pid", os.getpid())
"""


def run_child(directory, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    *body, last = result.stdout.strip().splitlines()
    return int(last.split()[1]), "\n".join(body)


def values(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_multiprocess_mode_sums_every_process(tmp_path, monkeypatch):
    """Two processes' counters add up; gunicorn's child_exit drops a dead one's gauges."""
    first, _ = run_child(tmp_path, "work")
    second, text = run_child(tmp_path, "work", "scrape")
    scraped = values(text)
    assert (
        scraped[
            (
                "janserver_requests_total",
                (("route", "chat.completions"), ("status", "200")),
            )
        ]
        == 2.0
    )
    assert (
        scraped[("janserver_inflight_streams", (("model", "m"), ("provider", "p")))]
        == 2.0
    )
    assert scraped[("janserver_usage_queue_depth", ())] == 6.0
    assert not any(name.startswith("python_gc") for name, _ in scraped)

    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for pid in (first, second):
        hooks["child_exit"](None, SimpleNamespace(pid=pid))
    _, text = run_child(tmp_path, "scrape")
    scraped = values(text)
    assert (
        scraped[
            (
                "janserver_requests_total",
                (("route", "chat.completions"), ("status", "200")),
            )
        ]
        == 2.0
    )
    assert (
        "janserver_inflight_streams",
        (("model", "m"), ("provider", "p")),
    ) not in scraped
    assert scraped.get(("janserver_usage_queue_depth", ()), 0.0) == 0.0


def test_gunicorn_prepares_an_empty_metrics_dir(tmp_path, monkeypatch):
    """on_starting creates a directory when none is set, and empties a given one."""
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    environ: dict[str, str] = {}
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    hooks["_prepare_metrics_dir"]()
    created = environ["PROMETHEUS_MULTIPROC_DIR"]
    assert os.path.isdir(created)
    assert os.path.dirname(created) == str(tmp_path)

    given = tmp_path / "given"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    (given / "keep.txt").write_text("not ours")
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(given)
    hooks["_prepare_metrics_dir"]()
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]
