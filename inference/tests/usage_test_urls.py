"""The test URLs plus /metrics and views that record usage entries, async and sync."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from inference import metrics, usage
from inference.api.metrics_view import scrape_metrics
from janserver.tests.urls import (
    handler400,
    handler403,
    handler404,
    handler500,
    urlpatterns,
)

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def _entry(request: HttpRequest, index: int) -> usage.UsageEntry:
    return usage.UsageEntry(
        request_id=f"{request.request_id}-{index}",  # type: ignore[attr-defined]
        endpoint="chat.completions",
        model=request.GET.get("model", "test-model"),
        status="ok",
        prompt_tokens=3,
        completion_tokens=5,
    )


async def record_usage(request: HttpRequest) -> JsonResponse:
    for index in range(int(request.GET.get("n", "1"))):
        usage.record(_entry(request, index))
    metrics.observe_request("chat.completions", 200)
    return JsonResponse({"pending": usage.pending_count()})


def record_usage_sync(request: HttpRequest) -> JsonResponse:
    usage.record(_entry(request, 0))
    return JsonResponse({"pending": usage.pending_count()})


urlpatterns = [
    *urlpatterns,
    path("metrics", scrape_metrics),
    path("test/usage", record_usage),
    path("test/usage-sync", record_usage_sync),
]
