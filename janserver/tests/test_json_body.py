"""JSON bodies: one reader refuses unstorable text and deep nesting on every route."""

from typing import Any

import pytest

from conversations.models import Conversation, Item, Workspace
from janserver.errors import APIError, InvalidJSON
from janserver.http.json_body import MAX_DEPTH, loads, object_loads, value_check
from orgs.models import Project
from tools.models import McpServer

SURROGATE = b'"x\\ud800y"'
NUL = b'"x\\u0000y"'


def _error_of(call: Any) -> APIError:
    with pytest.raises(APIError) as raised:
        call()
    return raised.value


@pytest.mark.parametrize(
    ("raw", "param", "message"),
    [
        (
            b'{"metadata": {"k": ' + SURROGATE + b"}}",
            "metadata.k",
            "metadata.k must not contain lone surrogates (not valid Unicode text).",
        ),
        (
            b'{"items": [{"content": [{"text": ' + NUL + b"}]}]}",
            "items[0].content[0].text",
            "items[0].content[0].text must not contain NUL characters (\\u0000).",
        ),
        (
            b'{"a": {"k\\u0000": 1}}',
            "a",
            "The keys of a must not contain NUL characters (\\u0000).",
        ),
        (
            b'{"a\\udfff": 1}',
            None,
            "The keys of the body must not contain lone surrogates "
            "(not valid Unicode text).",
        ),
        (b'{"n": 1e400}', "n", "n must be a finite number."),
        (b'{"n": [-1e999]}', "n[0]", "n[0] must be a finite number."),
        (
            b"[" * 2000 + b"]" * 2000,
            None,
            f"The JSON body nests more than {MAX_DEPTH} levels deep.",
        ),
        (
            b'{"a": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
            "a" + "[0]" * (MAX_DEPTH - 1),
            f"The JSON body nests more than {MAX_DEPTH} levels deep.",
        ),
    ],
)
def test_unstorable_values_are_refused_naming_their_path(raw, param, message):
    error = _error_of(lambda: loads(raw))
    assert (error.status, error.error_code, error.param, error.message) == (
        400,
        "invalid_value",
        param,
        message,
    )


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"NaN", b'{"a": Infinity}', b"\xff", b"\xef\xbb\xbf{}", b"{'a': 1}"],
)
def test_malformed_bodies_are_invalid_json(raw):
    error = _error_of(lambda: loads(raw))
    assert isinstance(error, InvalidJSON)
    assert error.message.startswith(
        "We could not parse the JSON body of your request ("
    )


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'{"text": "\\\\u0000"}', {"text": "\\u0000"}),  # an escaped backslash
        (b'{"emoji": "\\ud83d\\ude00"}', {"emoji": "\U0001f600"}),  # a surrogate pair
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)),  # noqa: S307
        ('{"é": "ü"}', {"é": "ü"}),
    ],
)
def test_valid_bodies_parse_unchanged(raw, value):
    assert loads(raw) == value


def test_object_bodies_must_be_objects():
    error = _error_of(lambda: object_loads(b"[1]"))
    assert error.message == "The request body must be a JSON object."


def test_values_from_elsewhere_are_checked_for_lone_surrogates():
    """value_check covers what did not come through the parser (admin forms, code)."""
    error = _error_of(lambda: value_check({"a": ["ok", "\ud800"]}, "metadata"))
    assert error.param == "metadata.a[1]"
    value_check({"a": ["ok", "\U0001f600"]}, "metadata")


# Every JSON write route, called as an owner of the default organization.
WRITE_ROUTES = [
    ("post", "/v1/conversations"),
    ("post", "/v1/conversations/{conv}"),
    ("patch", "/v1/conversations/{conv}"),
    ("patch", "/v1/conversations/{conv}/workspace"),
    ("post", "/v1/conversations/{conv}/items"),
    ("post", "/v1/conv/workspaces"),
    ("patch", "/v1/conv/workspaces/{ws}"),
    ("patch", "/v1/conv/workspaces/{ws}/instruction"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/completions"),
    ("post", "/v1/conv/chat/completions"),
    ("post", "/v1/responses"),
    ("post", "/v1/organization/projects"),
    ("post", "/v1/organization/projects/{proj}"),
    ("post", "/v1/organization/projects/{proj}/api_keys"),
    ("post", "/v1/organization/projects/{proj}/users"),
    ("post", "/v1/organization/users/{user}"),
    ("post", "/v1/organization/admin_api_keys"),
    ("post", "/v1/organization/invites"),
    ("post", "/v1/organization/invites/verification"),
    ("post", "/v1/organization/models/providers"),
    ("post", "/v1/organization/mcp_servers"),
    ("post", "/v1/projects"),
    ("post", "/v1/organization/model_prices"),
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/verify-email"),
    ("post", "/v1/auth/password/reset"),
    ("post", "/v1/auth/password/reset/confirm"),
]
BAD_BODIES = {
    "surrogate": b'{"metadata": {"k": "\\ud800"}, "name": "\\ud800", "title": "t"}',
    "nul": b'{"metadata": {"k": "\\u0000"}, "name": "\\u0000", "title": "t"}',
    "deep": b'{"metadata": ' + b"[" * 3000 + b"]" * 3000 + b"}",
}


def stored_counts() -> tuple[int, ...]:
    """How many conversations, items, workspaces, projects and MCP servers are stored."""
    return (
        Conversation.objects.count(),
        Item.objects.count(),
        Workspace.objects.count(),
        Project.objects.count(),
        McpServer.objects.count(),
    )


@pytest.mark.parametrize("bad", list(BAD_BODIES))
@pytest.mark.parametrize(("method", "path"), WRITE_ROUTES)
def test_every_json_route_refuses_unstorable_bodies(method, path, bad, owner_client):
    """400 in OpenAI's shape, nothing stored, and the lists still answer."""
    client, ids = owner_client
    before = stored_counts()
    response = getattr(client, method)(
        path.format(**ids), BAD_BODIES[bad], content_type="application/json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_value"
    if bad != "deep":
        assert error["param"] == "metadata.k"
    assert stored_counts() == before
    listed = client.get("/v1/conversations")
    assert listed.status_code == 200
    assert [c["title"] for c in listed.json()["data"]] == ["kept"]
    assert client.get(f"/v1/conversations/{ids['conv']}").json()["metadata"] == {}
