"""OpenAPI schema extensions (drf-spectacular) for janserver's own classes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "janserver.auth.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project or admin API key (sk-…) or a login access token (JWT).",
        }
