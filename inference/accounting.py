"""Per-request bookkeeping of the relay: timings, tokens, then one usage row and metrics."""

import time
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from inference import metrics, usage
from inference.catalog import Route
from inference.models import UsageStatus
from janserver.principal import Principal
from limits.admission import Ticket


@dataclass
class Accounting:
    principal: Principal
    request_id: str
    endpoint: str
    model: str
    stream: bool
    started: float = field(default_factory=time.perf_counter)
    route: Route | None = None
    upstream_sent: float | None = None
    upstream_first: float | None = None
    client_first: float | None = None
    finished: bool = False
    # The rate limits' reservation (inference.pipeline.admit), settled by finish().
    ticket: Ticket | None = None

    @property
    def limit_headers(self) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers for the answer (none without limits)."""
        return self.ticket.headers if self.ticket is not None else {}

    def upstream_request(self) -> None:
        self.upstream_sent = time.perf_counter()

    def upstream_answered(self, route: Route) -> None:
        self.route = route
        self.upstream_first = time.perf_counter()

    def first_sent(self) -> None:
        """The first bytes went to the client: time to first token and added latency."""
        if self.client_first is not None or self.route is None:
            return
        self.client_first = time.perf_counter()
        provider = self.route.provider_name
        metrics.observe_ttft(self.model, provider, self.client_first - self.started)
        if self.upstream_sent is not None and self.upstream_first is not None:
            added = (self.upstream_sent - self.started) + (
                self.client_first - self.upstream_first
            )
            metrics.observe_added_latency(self.model, provider, added)

    def finish(
        self,
        *,
        status: str,
        http_status: int,
        usage_data: dict[str, Any] | None = None,
        completion_tokens_seen: int = 0,
        disconnected: bool = False,
    ) -> None:
        """Record the request once: a usage row (batched) and the request metric."""
        if self.finished:
            return
        self.finished = True
        principal = self.principal
        counts = usage_data or {}
        prompt_tokens = _count(counts.get("prompt_tokens"))
        completion_tokens = (
            _count(counts.get("completion_tokens")) or completion_tokens_seen
        )
        if self.ticket is not None:
            self.ticket.settle(prompt_tokens, completion_tokens)
        metrics.observe_request(self.endpoint, http_status)
        usage.record(
            usage.UsageEntry(
                organization_id=principal.organization_id,
                project_id=principal.project_id,
                api_key_id=principal.api_key_id,
                user_id=principal.user_values[0],
                provider_id=self.route.provider_id if self.route else None,
                request_id=self.request_id,
                endpoint=self.endpoint,
                model=self.model[:200],
                stream=self.stream,
                status=status,
                http_status=http_status,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                time_to_first_token_ms=_ms(self.client_first, self.started),
                duration_ms=(time.perf_counter() - self.started) * 1000,
                client_disconnected=disconnected,
                created_at=timezone.now(),
            )
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _ms(end: float | None, start: float) -> float | None:
    return None if end is None else (end - start) * 1000


STATUS_FOR_ERROR = {
    400: UsageStatus.CLIENT_ERROR,
    404: UsageStatus.CLIENT_ERROR,
}


def status_for(http_status: int) -> str:
    if http_status < 400:
        return UsageStatus.OK
    return STATUS_FOR_ERROR.get(http_status, UsageStatus.UPSTREAM_ERROR)
