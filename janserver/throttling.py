"""Rate limits for the unauthenticated auth surface, per client IP, in the shared cache."""

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class AuthRateThrottle(SimpleRateThrottle):
    """Limit login, refresh and invite verification calls per client IP address.

    The address is REMOTE_ADDR: the ASGI server has already replaced it with the real
    client when the request came through a trusted proxy (FORWARDED_ALLOW_IPS), so a
    client cannot dodge the limit with its own X-Forwarded-For header.
    """

    scope = "auth"

    def get_rate(self) -> str | None:
        return settings.AUTH_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        address = request.META.get("REMOTE_ADDR") or "unknown"
        return self.cache_format % {"scope": self.scope, "ident": address}
