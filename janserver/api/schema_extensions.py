"""OpenAPI schema extensions (drf-spectacular) for janserver's own classes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer …`, or an API key in X-API-Key: either one."""

    target_class = "janserver.auth.BearerAuthentication"
    name = ["bearer", "apiKey"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{"bearer": []}, {"apiKey": []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "A project or admin API key (sk-…) or a login access "
                "token (JWT).",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "A project or admin API key (sk-…), as Jan's clients "
                "send it; `Authorization: Bearer` wins when both are sent.",
            },
        ]
