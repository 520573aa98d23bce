"""Prometheus metrics of tool calls: how many per tool and outcome, and how long.

Tool labels are the names callers see (`google_search`, `label__tool`); past
MAX_SERIES_PER_METRIC distinct tools, new ones are counted as "other".
"""

from typing import Any

from prometheus_client import Counter, Histogram

from inference.metrics import MAX_SERIES_PER_METRIC, NAMESPACE, OTHER

TOOL_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 90.0)

TOOL_CALLS = Counter(
    "tool_calls",
    "Tool calls, by tool and outcome.",
    ["tool", "outcome"],
    namespace=NAMESPACE,
)
TOOL_CALL_SECONDS = Histogram(
    "tool_call_seconds",
    "How long tool calls took, by tool.",
    ["tool"],
    namespace=NAMESPACE,
    buckets=TOOL_SECONDS_BUCKETS,
)

_tools: set[str] = set()


def _label(tool: str) -> str:
    if tool in _tools:
        return tool
    if len(_tools) >= MAX_SERIES_PER_METRIC:
        return OTHER
    _tools.add(tool)
    return tool


def tool_call_observe(tool: str, outcome: str, seconds: float) -> None:
    """Count one finished tool call and its duration."""
    label = _label(tool)
    counter: Any = TOOL_CALLS.labels(label, outcome)
    counter.inc()
    TOOL_CALL_SECONDS.labels(label).observe(seconds)
