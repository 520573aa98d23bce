"""Prometheus metrics of the gateway, and the small calls the relay makes to update them.

Multiprocess-safe: under gunicorn, PROMETHEUS_MULTIPROC_DIR is set before the workers
fork (gunicorn.conf.py), each worker writes its values to files there, and a scrape of
any worker sums them all (exposition()). Labels stop at model and provider: never a key,
a user or a raw path, so that the number of series stays small.
"""

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

NAMESPACE = "janserver"
# Route names, as in the usage ledger's `endpoint`; anything else is counted as "other".
ROUTES = frozenset(
    {
        "chat.completions",
        "completions",
        "responses",
        "embeddings",
        "models",
        "conversations",
        "other",
    }
)
UPSTREAM_ERROR_KINDS = frozenset(
    {"timeout", "connect", "status", "garbage", "disconnect", "other"}
)
# A guard against labels fed by unchecked input: past this many series per metric, new
# label values are counted under "other".
MAX_SERIES_PER_METRIC = 2_000
OTHER = "other"

TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
ADDED_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)

REQUESTS = Counter(
    "requests",
    "Requests answered, by route and HTTP status.",
    ["route", "status"],
    namespace=NAMESPACE,
)
INFLIGHT_STREAMS = Gauge(
    "inflight_streams",
    "Streams being relayed now.",
    ["model", "provider"],
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
TIME_TO_FIRST_TOKEN = Histogram(
    "time_to_first_token_seconds",
    "Time from the request reaching the gateway to the first token sent to the client.",
    ["model", "provider"],
    namespace=NAMESPACE,
    buckets=TTFT_BUCKETS,
)
ADDED_LATENCY = Histogram(
    "gateway_added_latency_seconds",
    "Time the gateway adds: its own work before the upstream call and per response.",
    ["model", "provider"],
    namespace=NAMESPACE,
    buckets=ADDED_LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "upstream_errors",
    "Upstream failures, by provider and kind.",
    ["provider", "kind"],
    namespace=NAMESPACE,
)
USAGE_QUEUE_DEPTH = Gauge(
    "usage_queue_depth",
    "Usage records waiting to be written to the ledger.",
    namespace=NAMESPACE,
    multiprocess_mode="livesum",
)
USAGE_DROPPED = Counter(
    "usage_dropped",
    "Usage records dropped: queue full, or rejected by the database.",
    namespace=NAMESPACE,
)


class _Children:
    """The labelled children of one metric, cached: `.labels()` is not free."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], Any] = {}

    def get(self, *labels: str) -> Any:
        child = self.children.get(labels)
        if child is None:
            if len(self.children) >= MAX_SERIES_PER_METRIC:
                labels = (OTHER,) * len(labels)
                child = self.children.get(labels)
            if child is None:
                child = self.children[labels] = self.metric.labels(*labels)
        return child


_requests = _Children(REQUESTS)
_inflight = _Children(INFLIGHT_STREAMS)
_ttft = _Children(TIME_TO_FIRST_TOKEN)
_added = _Children(ADDED_LATENCY)
_upstream_errors = _Children(UPSTREAM_ERRORS)


def observe_request(route: str, status: int) -> None:
    """Count one answered request; `route` is a name from ROUTES, never a path."""
    _requests.get(route if route in ROUTES else OTHER, str(status)).inc()


def stream_started(model: str, provider: str) -> None:
    """Count a stream in flight until stream_finished() with the same labels."""
    _inflight.get(model, provider).inc()


def stream_finished(model: str, provider: str) -> None:
    """See stream_started()."""
    _inflight.get(model, provider).dec()


def observe_ttft(model: str, provider: str, seconds: float) -> None:
    """Record the time to the first token sent to the client."""
    _ttft.get(model, provider).observe(seconds)


def observe_added_latency(model: str, provider: str, seconds: float) -> None:
    """Record the latency the gateway itself added to a request."""
    _added.get(model, provider).observe(seconds)


def upstream_error(provider: str, kind: str) -> None:
    """Count an upstream failure; `kind` is one of UPSTREAM_ERROR_KINDS."""
    _upstream_errors.get(
        provider, kind if kind in UPSTREAM_ERROR_KINDS else OTHER
    ).inc()


def usage_dropped(count: int = 1) -> None:
    """Count usage records that will never reach the ledger."""
    USAGE_DROPPED.inc(count)


def set_usage_queue_depth(depth: int) -> None:
    """Publish this process's usage queue depth (summed over live processes)."""
    USAGE_QUEUE_DEPTH.set(depth)


def is_multiprocess() -> bool:
    """True when this process's metrics were built on PROMETHEUS_MULTIPROC_DIR files."""
    return bool(getattr(prometheus_values.ValueClass, "_multiprocess", False))


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """Return (body, content type) of every process's metrics, in the format `accept` asks.

    Blocking (it reads the files of every process in multiprocess mode): call it from a
    worker thread in async code.
    """
    registry: CollectorRegistry = REGISTRY
    if is_multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
