"""OpenAPI descriptions of the plain Django views, merged into drf-spectacular's schema.

drf-spectacular describes DRF views only. The OpenAI endpoints and the server routes
are plain (async) Django views: each declares its operations next to itself with
`@documented({...})`, and `add_documented_views`, a drf-spectacular postprocessing
hook, adds them under their URL patterns. Schemas they share are `components()` here
and in the apps' `api/openapi.py` modules (registered with `register_components`).
"""

import re
from collections.abc import Callable, Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

Operations = dict[str, dict[str, Any]]  # HTTP method (lowercase) -> operation

_components: dict[str, dict[str, Any]] = {}


def register_components(schemas: dict[str, dict[str, Any]]) -> None:
    """Add component schemas (name -> JSON schema) to every generated document."""
    _components.update(schemas)


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_doc(
    schema: dict[str, Any], description: str = "The answer."
) -> dict[str, Any]:
    """The description of a JSON request or response body."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def sse_content(data: dict[str, Any]) -> dict[str, Any]:
    """The `content` entry of a `text/event-stream` answer whose events carry `data`."""
    return {"text/event-stream": {"schema": {"type": "string"}, "x-event-data": data}}


ERRORS = {
    "400": json_doc(ref("Error"), "Invalid request (`param` names the field)."),
    "408": json_doc(ref("Error"), "The request body did not arrive in time."),
    "409": json_doc(ref("Error"), "A conflict with the current state."),
    "415": json_doc(ref("Error"), "The body is not JSON."),
    "401": json_doc(ref("Error"), "Missing, unknown, expired or revoked credential."),
    "403": json_doc(ref("Error"), "The credential may not use this route."),
    "404": json_doc(ref("Error"), "Unknown, or another tenant's, object or model."),
    "413": json_doc(ref("Error"), "The body is larger than the server accepts."),
    "429": json_doc(ref("Error"), "Rate limited (`Retry-After`)."),
    "502": json_doc(ref("Error"), "The model server answered garbage."),
    "503": json_doc(ref("Error"), "No model server available (`Retry-After`)."),
    "504": json_doc(ref("Error"), "The model server sent nothing in time."),
}


def errors(*statuses: int) -> dict[str, Any]:
    """The error answers of an operation, by status."""
    return {str(status): ERRORS[str(status)] for status in statuses}


# What any operation may answer (docs/api.md §1): a bad request or body, a missing or
# refused credential, an unknown or foreign object, a body too slow or too large or not
# JSON, a limit, the database or Redis unreachable.
EVERY_OPERATION = ("400", "401", "403", "404", "408", "413", "415", "429", "503")


register_components(
    {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["message", "type", "param", "code"],
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "param": {"type": ["string", "null"]},
                        "code": {"type": ["string", "null"]},
                    },
                }
            },
        }
    }
)


def documented(operations: Operations) -> Callable[[Any], Any]:
    """Attach OpenAPI operations (by lowercase HTTP method) to a plain Django view."""

    def attach(view: Any) -> Any:
        view.openapi_operations = operations
        return view

    return attach


def openapi_path(route: str) -> str:
    """`v1/responses/<str:response_id>` -> `/v1/responses/{response_id}`."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def documented_views(
    patterns: Any = None, prefix: str = ""
) -> Iterator[tuple[str, Operations]]:
    """Yield (OpenAPI path, operations) of every documented view in the URL patterns."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from documented_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            operations = getattr(pattern.callback, "openapi_operations", None)
            if operations:
                yield openapi_path(route), operations


def _parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def add_documented_views(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the documented plain views."""
    paths = result.setdefault("paths", {})
    used: set[str] = set()
    for path, operations in documented_views():
        item = paths.setdefault(path, {})
        for method, operation in operations.items():
            parameters = _parameters(path) + operation.get("parameters", [])
            operation_id = operation["operationId"]
            if operation_id in used:  # one view under a second path (/v1/conv/models)
                operation_id += "_" + re.sub(r"\W+", "_", path).strip("_")
            used.add(operation_id)
            item[method] = {
                **operation,
                "operationId": operation_id,
                **({"parameters": parameters} if parameters else {}),
                "security": [{"bearer": []}, {"apiKey": []}]
                if operation.get("x-authenticated", True)
                else [],
            }
            item[method].pop("x-authenticated", None)
    _with_common_errors(paths)
    result.setdefault("components", {}).setdefault("schemas", {}).update(_components)
    return result


def _with_common_errors(paths: dict[str, Any]) -> None:
    """Document on every operation the errors any operation may answer (and on every
    write, 409)."""
    for item in paths.values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            public = not operation.get("security", [{}])
            statuses = EVERY_OPERATION if method == "get" else (*EVERY_OPERATION, "409")
            for status in statuses:
                if not (public and status in ("401", "403")):
                    operation["responses"].setdefault(status, ERRORS[status])
