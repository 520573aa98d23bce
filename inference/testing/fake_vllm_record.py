"""What the fake vLLM server received and how each response ended, for assertions.

Times are `time.monotonic()` seconds (CLOCK_MONOTONIC on Linux: comparable across
threads and processes on one host).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PENDING = "pending"
COMPLETED = "completed"
DISCONNECTED = "disconnected"
DROPPED = "dropped"
CANCELLED = "cancelled"


@dataclass(slots=True, eq=False)
class RecordedRequest:
    """One request as received, plus the outcome of its response."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw: bytes
    received_at: float
    body: Any = None
    streamed: bool = False
    status: int | None = None
    outcome: str = PENDING
    chunks_sent: int = 0
    ended_at: float | None = None

    @property
    def disconnected_at(self) -> float | None:
        """Return when the client went away mid-response, if it did."""
        return self.ended_at if self.outcome == DISCONNECTED else None


class Recorder:
    """Keep the last `history` requests and running stream counters."""

    def __init__(self, history: int = 100) -> None:
        self.requests: deque[RecordedRequest] = deque(maxlen=history)
        self.disconnect_times: deque[float] = deque(maxlen=max(history, 1))
        self.open_streams = 0
        self.total_requests = self.streams_opened = self.streams_completed = 0
        self.disconnects = self.drops = 0

    def clear(self) -> None:
        """Forget recorded requests and zero the counters; open streams stay counted."""
        self.requests.clear()
        self.disconnect_times.clear()
        self.streams_opened = self.open_streams
        self.total_requests = self.streams_completed = self.disconnects = self.drops = 0

    @property
    def last(self) -> RecordedRequest | None:
        return self.requests[-1] if self.requests else None

    @property
    def streams_closed(self) -> int:
        return self.streams_opened - self.open_streams

    def record(
        self, method: str, path: str, headers: Mapping[str, str], raw: bytes
    ) -> RecordedRequest:
        """Record a request; its body is parsed later, when it is valid JSON."""
        entry = RecordedRequest(method, path, headers, raw, time.monotonic())
        self.total_requests += 1
        self.requests.append(entry)
        return entry

    def opened(self, entry: RecordedRequest) -> None:
        """Count a response whose headers were sent and whose body is streaming."""
        entry.streamed = True
        self.streams_opened += 1
        self.open_streams += 1

    def ended(self, entry: RecordedRequest, outcome: str) -> None:
        """Set the outcome of a request (once) and update the counters."""
        if entry.outcome != PENDING:
            return
        entry.outcome = outcome
        entry.ended_at = time.monotonic()
        if entry.streamed:
            self.open_streams -= 1
            self.streams_completed += outcome == COMPLETED
        if outcome == DISCONNECTED:
            self.disconnects += 1
            self.disconnect_times.append(entry.ended_at)
        self.drops += outcome == DROPPED

    def stats(self) -> dict[str, int]:
        """Return the counters as a dict (for logs and benchmarks)."""
        return {
            "requests": self.total_requests,
            "streams_opened": self.streams_opened,
            "streams_open": self.open_streams,
            "streams_completed": self.streams_completed,
            "disconnects": self.disconnects,
            "drops": self.drops,
        }
