"""The Responses API over HTTP: bad input, visibility, options, and OpenAI's answers."""

import httpx
import pytest

from conversations.models import Response
from inference.testing.fixtures import MODEL
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory

pytestmark = pytest.mark.server

FAKE = {"fake": {"tokens": 3, "delay_ms": 0}}


def body(**fields):
    return {"model": MODEL, "input": "Hi", **FAKE, **fields}


def error(param, message=None, code="invalid_value", kind="invalid_request_error"):
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def without_message(response: httpx.Response) -> dict:
    data = response.json()
    assert data["error"]["message"]
    data["error"]["message"] = None
    return data


@pytest.fixture
def other(live):
    """A key of another organization's project, on the same gateway."""
    member = ProjectMemberFactory(project=ProjectFactory())
    _, secret = api_key_create(
        kind="project",
        organization=member.project.organization,
        project=member.project,
        owner=member.user,
    )
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(
    ("fields", "status", "param", "code"),
    [
        ({"model": None}, 400, "model", "missing_required_parameter"),
        ({"model": "nope"}, 404, "model", "model_not_found"),
        ({"input": None}, 400, "input", "missing_required_parameter"),
        ({"input": 3}, 400, "input", "invalid_value"),
        ({"input": []}, 400, "input", "invalid_value"),
        (
            {"input": [{"role": "robot", "content": "x"}]},
            400,
            "input[0].role",
            "invalid_value",
        ),
        (
            {"input": [{"type": "file_search_call"}]},
            400,
            "input[0].type",
            "invalid_value",
        ),
        (
            {"input": [{"role": "user", "content": 5}]},
            400,
            "input[0].content",
            "invalid_value",
        ),
        (
            {"metadata": {f"k{i}": "v" for i in range(17)}},
            400,
            "metadata",
            "invalid_value",
        ),
        ({"metadata": {"k": "v" * 513}}, 400, "metadata.k", "invalid_value"),
        (
            {"tools": [{"type": "file_search"}]},
            400,
            "tools[0].type",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "function", "function": "x"}]},
            400,
            "tools[0].function",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "function", "function": {"description": "d"}}]},
            400,
            "tools[0].function.name",
            "missing_required_parameter",
        ),
        (
            {"tools": [{"type": "web_search", "search_context_size": "huge"}]},
            400,
            "tools[0].search_context_size",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "mcp"}]},
            400,
            "tools[0].server_label",
            "missing_required_parameter",
        ),
        (
            {
                "tools": [
                    {"type": "mcp", "server_label": "x", "require_approval": "always"}
                ]
            },
            400,
            "tools[0].require_approval",
            "invalid_value",
        ),
        (
            {
                "tools": [
                    {"type": "mcp", "server_label": "x", "server_url": "http://e.x"}
                ]
            },
            400,
            "tools[0].server_url",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "mcp", "server_label": "x", "allowed_tools": "all"}]},
            400,
            "tools[0].allowed_tools",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "mcp", "server_label": "nowhere"}]},
            400,
            "tools[0].server_label",
            "unknown_server_label",
        ),
        (
            {"tools": [{"type": "function"}]},
            400,
            "tools[0].name",
            "missing_required_parameter",
        ),
        ({"tool_choice": "sometimes"}, 400, "tool_choice", "invalid_value"),
        ({"tool_choice": {"type": "web_search"}}, 400, "tool_choice", "invalid_value"),
        (
            {"tool_choice": {"type": "function", "name": "nope"}},
            400,
            "tool_choice",
            "invalid_value",
        ),
        (
            {
                "tools": [{"type": "web_search"}],
                "tool_choice": {"type": "mcp", "server_label": "elsewhere"},
            },
            400,
            "tool_choice",
            "invalid_value",
        ),
        (
            {
                "tools": [{"type": "mcp", "server_label": "x", "allowed_tools": ["a"]}],
                "tool_choice": {"type": "mcp", "server_label": "x", "name": "b"},
            },
            400,
            "tool_choice",
            "invalid_value",
        ),
        (
            {"tools": [{"type": "web_search"}], "tool_choice": {"type": "file_search"}},
            400,
            "tool_choice",
            "invalid_value",
        ),
        (
            {
                "tools": [{"type": "web_search"}],
                "tool_choice": {
                    "type": "allowed_tools",
                    "mode": "sometimes",
                    "tools": [{"type": "web_search"}],
                },
            },
            400,
            "tool_choice",
            "invalid_value",
        ),
        (
            {
                "tools": [{"type": "web_search"}],
                "tool_choice": {
                    "type": "allowed_tools",
                    "mode": "auto",
                    "tools": [{"type": "function", "name": "get_weather"}],
                },
            },
            400,
            "tool_choice",
            "invalid_value",
        ),
        ({"max_tool_calls": 0}, 400, "max_tool_calls", "invalid_value"),
        ({"max_tool_calls": "2"}, 400, "max_tool_calls", "invalid_value"),
        ({"max_tool_calls": True}, 400, "max_tool_calls", "invalid_value"),
        ({"max_tool_calls": 1.5}, 400, "max_tool_calls", "invalid_value"),
        (
            {"text": {"format": {"type": "yaml"}}},
            400,
            "text.format.type",
            "invalid_value",
        ),
        ({"temperature": "hot"}, 400, "temperature", "invalid_value"),
        ({"max_output_tokens": 0}, 400, "max_output_tokens", "invalid_value"),
        ({"max_output_tokens": 5000}, 400, "max_output_tokens", "invalid_value"),
        ({"stream": "yes"}, 400, "stream", "invalid_value"),
        ({"background": True, "store": False}, 400, "store", "invalid_value"),
        (
            {"previous_response_id": "resp_x", "conversation": "conv_x"},
            400,
            "conversation",
            "invalid_value",
        ),
        (
            {"previous_response_id": "resp_unknown"},
            404,
            "previous_response_id",
            "not_found",
        ),
        ({"conversation": "conv_unknown"}, 404, "conversation", "not_found"),
    ],
)
def test_bad_requests_are_refused_before_any_upstream_call(
    live, fields, status, param, code
):
    requests_before = live.fake.recorder.total_requests
    response = live.post("/v1/responses", body(**fields))
    assert response.status_code == status
    kind = "invalid_request_error"
    assert without_message(response) == error(param, code=code, kind=kind)
    assert live.fake.recorder.total_requests == requests_before
    assert not Response.objects.exists()


def test_foreign_ids_are_not_found_like_unknown_ones(live, other):
    mine = live.post("/v1/responses", body()).json()
    conversation = live.post("/v1/conversations", {}).json()
    url = f"{live.url}/v1/responses/{mine['id']}"
    for method, path in [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/cancel"),
        ("GET", "/input_items"),
    ]:
        answer = httpx.request(method, url + path, headers=other, timeout=10)
        assert answer.status_code == 404
        assert (
            answer.json()["error"]["message"] == f"No response with id {mine['id']!r}."
        )
    post = httpx.post(
        f"{live.url}/v1/responses",
        json=body(previous_response_id=mine["id"]),
        headers=other,
        timeout=10,
    )
    assert without_message(post) == error("previous_response_id", code="not_found")
    post = httpx.post(
        f"{live.url}/v1/responses",
        json=body(conversation={"id": conversation["id"]}),
        headers=other,
        timeout=10,
    )
    assert without_message(post) == error("conversation", code="not_found")


def test_options_are_translated_for_the_upstream(live):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    response = live.post(
        "/v1/responses",
        body(
            max_output_tokens=2,
            temperature=0,
            top_p=0.5,
            metadata={"k": "v"},
            text={"format": {"type": "json_schema", "name": "out", "schema": schema}},
            reasoning={"effort": "high"},
            top_k=5,
            request_id="mine",
            include=["reasoning.encrypted_content"],
        ),
    )
    data = response.json()
    sent = live.fake.recorder.last.body
    assert sent["max_tokens"] == 2
    assert (sent["temperature"], sent["top_p"], sent["top_k"]) == (0, 0.5, 5)
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": schema},
    }
    assert sent["stream"] is True
    for dropped in ("request_id", "include", "reasoning", "metadata", "input", "text"):
        assert dropped not in sent
    assert data["status"] == "incomplete"
    assert data["incomplete_details"] == {"reason": "max_output_tokens"}
    assert (data["temperature"], data["top_p"], data["metadata"]) == (
        0,
        0.5,
        {"k": "v"},
    )
    assert data["text"]["format"]["type"] == "json_schema"
    assert data["reasoning"] == {"effort": "high", "summary": None}


def test_item_input_is_converted_to_chat_messages(live):
    items = [
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello."},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"type": "reasoning", "summary": []},
    ]
    data = live.post("/v1/responses", body(input=items)).json()
    assert live.fake.recorder.last.body["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": "Hello.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    listed = httpx.get(
        f"{live.url}/v1/responses/{data['id']}/input_items",
        params={"order": "asc", "limit": 2},
        headers=live.headers,
    ).json()
    assert [item["type"] for item in listed["data"]] == ["message", "message"]
    assert listed["has_more"] is True
    assert listed["first_id"] == listed["data"][0]["id"]
    rest = httpx.get(
        f"{live.url}/v1/responses/{data['id']}/input_items",
        params={"order": "asc", "after": listed["last_id"]},
        headers=live.headers,
    ).json()
    assert [item["type"] for item in rest["data"]] == [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
    ]


def test_store_false_is_not_retrievable(live):
    data = live.post("/v1/responses", body(store=False)).json()
    assert data["status"] == "completed"
    assert data["store"] is False
    assert not Response.objects.exists()
    answer = httpx.get(f"{live.url}/v1/responses/{data['id']}", headers=live.headers)
    assert answer.status_code == 404
    answer = live.post("/v1/responses", body(previous_response_id=data["id"]))
    assert without_message(answer) == error("previous_response_id", code="not_found")


def test_cancel_is_only_for_unfinished_background_responses(live):
    data = live.post("/v1/responses", body()).json()
    answer = live.post(f"/v1/responses/{data['id']}/cancel", {})
    assert answer.json() == error(
        "response_id", "Only responses created with background=true can be cancelled."
    )
    Response.objects.filter(public_id=data["id"]).update(background=True)
    answer = live.post(f"/v1/responses/{data['id']}/cancel", {})
    assert answer.status_code == 400
    assert answer.json() == error("response_id", "Cannot cancel a completed response.")


def test_upstream_failure_before_the_stream_is_an_http_error(live):
    for stream in (False, True):
        answer = live.post(
            "/v1/responses",
            body(stream=stream, fake={"mode": ["error_500"]}),
        )
        assert answer.status_code == 502
        assert answer.json()["error"]["code"] == "bad_upstream_response"
    assert not Response.objects.exists()


def test_delete_answers_openai_shape(live):
    data = live.post("/v1/responses", body()).json()
    url = f"{live.url}/v1/responses/{data['id']}"
    answer = httpx.delete(url, headers=live.headers)
    assert answer.json() == {
        "id": data["id"],
        "object": "response.deleted",
        "deleted": True,
    }
    assert httpx.delete(url, headers=live.headers).status_code == 404


def test_wrong_methods_and_credentials(live):
    assert httpx.get(f"{live.url}/v1/responses").status_code == 405
    answer = httpx.post(f"{live.url}/v1/responses", json=body())
    assert answer.status_code == 401
