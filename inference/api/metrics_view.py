"""GET /metrics: the Prometheus scrape, for a bearer token or, without one, loopback only."""

import hmac
import ipaddress

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from inference import metrics, usage
from janserver.api.openapi import documented, errors
from janserver.errors import Unauthenticated, error_response, route_not_found


@documented(
    {
        "get": {
            "operationId": "metrics",
            "summary": "The Prometheus scrape: for the METRICS_TOKEN bearer, or "
            "without one from loopback only (anyone else: 404).",
            "tags": ["server"],
            "x-authenticated": False,
            "responses": {
                "200": {
                    "description": "Prometheus' text format (or OpenMetrics).",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **errors(401, 404),
            },
        }
    }
)
async def scrape_metrics(request: HttpRequest) -> HttpResponse:
    if not _visible(request):
        return error_response(route_not_found(request))
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    metrics.set_usage_queue_depth(usage.pending_count())
    body, content_type = await sync_to_async(
        metrics.exposition, thread_sensitive=False
    )(request.headers.get("Accept"))
    return HttpResponse(body, content_type=content_type)


def _visible(request: HttpRequest) -> bool:
    """True when the caller may scrape; raise Unauthenticated for a missing or bad token.

    Without METRICS_TOKEN only loopback clients see the route: anyone else gets the
    404 of an unknown route, so the endpoint does not announce itself.
    """
    if not getattr(settings, "METRICS_ENABLED", True):
        return False
    token: str = getattr(settings, "METRICS_TOKEN", "")
    if not token:
        return _is_loopback(request.META.get("REMOTE_ADDR", ""))
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credential.strip().encode(), token.encode()
    ):
        raise Unauthenticated()
    return True


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback
