"""The OpenAPI schema at /api/schema/ documents every route, plain async views included."""

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from janserver.api.openapi import openapi_path

# Pages for browsers and the schema itself: not API routes.
UNDOCUMENTED_PREFIXES = ("/admin/", "/api/schema/", "/api/swagger/")
ANY_METHODS = ("get", "post", "put", "patch", "delete")


def _routes(patterns: Any = None, prefix: str = "") -> list[tuple[str, Any]]:
    """(OpenAPI path, view callback) of every URL pattern."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append((openapi_path(route), pattern.callback))
    return found


def _methods(callback: Any) -> set[str]:
    """The methods a DRF view class answers (plain views declare their own)."""
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return set(getattr(callback, "openapi_operations", {}))
    return {method for method in ANY_METHODS if hasattr(view_class, method)}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_every_route_and_method_is_in_the_schema(schema):
    missing = []
    for path, callback in _routes():
        if path.startswith(UNDOCUMENTED_PREFIXES):
            continue
        documented = set(schema["paths"].get(path, {}))
        methods = _methods(callback)
        if not methods or not methods <= documented:
            missing.append((path, sorted(methods - documented) or "no operation"))
    assert missing == []


def test_the_openai_endpoints_name_their_bodies_streams_and_errors(schema):
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionCreateRequest"
    }
    create = schema["components"]["schemas"]["ChatCompletionCreateRequest"]
    assert create["allOf"][0] == {"$ref": "#/components/schemas/ChatCompletionRequest"}
    assert {"store", "metadata", "conversation"} <= set(
        create["allOf"][1]["properties"]
    )
    answer = chat["responses"]["200"]["content"]
    assert set(answer) == {"application/json", "text/event-stream"}
    assert {"400", "401", "404", "502", "503", "504"} <= set(chat["responses"])
    assert chat["security"] == [{"bearer": []}, {"apiKey": []}]
    assert schema["paths"]["/healthcheck"]["get"]["security"] == []
    assert "ResponseStreamEvent" in schema["components"]["schemas"]
