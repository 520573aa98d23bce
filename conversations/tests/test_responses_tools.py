"""End to end: server-side tools in /v1/responses — web_search, mcp tools of a
registered server (a second MCP server run by the tests), Jan's chat-shaped
google_search function tool — with the openai SDK against the fake vLLM's tools_auto
mode and the fake Serper. Streamed events are parsed by the SDK, so a shape error
fails the test."""

import asyncio
import json
import time

import httpx
import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseFunctionToolCall,
    ResponseFunctionWebSearch,
    ResponseOutputMessage,
)
from openai.types.responses.response_output_item import McpCall, McpListTools

from conversations.models import Item
from conversations.models import Response as StoredResponse
from inference import usage
from inference.models import UsageRecord
from inference.testing.fake_vllm import refusing_url
from inference.testing.fake_vllm_plan import FAKE_STRING
from inference.testing.fixtures import MODEL
from limits.services import rate_limit_set
from orgs.models import ApiKey
from orgs.tests.factories import ProjectFactory
from tools.models import ToolCall
from tools.services import mcp_server_register
from tools.tests.test_mcp_endpoint import wait_for_calls

pytestmark = pytest.mark.server

WEB_SEARCH = {"type": "web_search"}
JAN_SEARCH = {
    "type": "function",
    "function": {
        "name": "google_search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}


def fake(*modes: str, **options):
    return {"fake": {"tokens": 3, "delay_ms": 0, "mode": list(modes), **options}}


def auto():
    return fake("tools_auto")


def mcp_tool(label: str = "fake", **fields):
    return {"type": "mcp", "server_label": label, "require_approval": "never", **fields}


def register(live, url: str, label: str = "fake", project=None, **fields):
    project = project or live.project
    return mcp_server_register(
        organization=project.organization,
        label=label,
        url=url,
        projects=[project.public_id],
        **fields,
    )


def ledger(count: int) -> list[tuple[str, str]]:
    return asyncio.run(wait_for_calls(count))


def usage_rows() -> list[tuple[str, int]]:
    usage.flush()
    return list(
        UsageRecord.objects.filter(endpoint="responses")
        .order_by("pk")
        .values_list("status", "completion_tokens")
    )


def sent_messages(live) -> list[dict]:
    return live.fake.recorder.last.body["messages"]


def test_web_search_runs_on_the_server(live, serper):
    """A `web_search` tool: the model's google_search call runs against Serper, the
    result goes back to the model, the output shows a completed web_search_call and
    the answer; each model step is admitted and leaves a usage row, the call a
    ledger row."""
    client = live.openai()
    response = client.responses.create(
        model=MODEL, input="Find it", tools=[WEB_SEARCH], extra_body=auto()
    )
    assert isinstance(response, Response)
    assert response.status == "completed"
    search, message = response.output
    assert isinstance(search, ResponseFunctionWebSearch)
    assert search.status == "completed"
    assert search.action.type == "search"
    assert search.action.query == FAKE_STRING
    assert search.action.sources[0].url == "https://example.com/1"
    assert isinstance(message, ResponseOutputMessage)
    assert response.output_text
    assert response.tools[0].type == "web_search"
    assert serper.requests[-1]["body"]["q"] == FAKE_STRING
    offered = [
        tool["function"]["name"] for tool in live.fake.recorder.last.body["tools"]
    ]
    assert offered == ["google_search", "scrape"]
    *_, assistant, tool = sent_messages(live)
    assert assistant["tool_calls"][0]["function"]["name"] == "google_search"
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert f"Result 1 for {FAKE_STRING}" in tool["content"]
    assert ledger(1) == [("ok", "google_search")]
    rows = usage_rows()
    assert [status for status, _ in rows] == ["ok", "ok"]
    assert response.usage.output_tokens == sum(tokens for _, tokens in rows)
    assert client.responses.retrieve(response.id) == response


def test_web_search_stream_events(live, serper):
    """Streamed: OpenAI's web_search_call events in order, parsed by the SDK."""
    client = live.openai()
    events = list(
        client.responses.create(
            model=MODEL,
            input="Find it",
            tools=[WEB_SEARCH],
            stream=True,
            extra_body=auto(),
        )
    )
    types = [event.type for event in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    done = events[6].item
    assert isinstance(done, ResponseFunctionWebSearch)
    assert (done.status, done.action.query) == ("completed", FAKE_STRING)
    final = events[-1].response
    assert [item.type for item in final.output] == ["web_search_call", "message"]
    assert client.responses.retrieve(final.id).output == final.output


@pytest.mark.parametrize("stream", [False, True])
def test_jan_chat_shaped_google_search_function(live, serper, stream):
    """Jan's k6 flow: a chat-shaped `google_search` function tool answers 200 and
    runs on the server, stream and not."""
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Search for me",
            "tools": [JAN_SEARCH],
            "stream": stream,
            **auto(),
        },
    )
    assert answer.status_code == 200, answer.text
    if stream:
        final = json.loads(answer.text.rsplit("data: ", 1)[1])["response"]
    else:
        final = answer.json()
    parsed = Response.model_validate(final)
    assert parsed.status == "completed"
    assert [item.type for item in parsed.output] == ["web_search_call", "message"]
    assert parsed.tools[0].type == "function"
    assert parsed.tools[0].name == "google_search"
    assert live.fake.recorder.last.body["tools"] == [
        {"type": "function", "function": JAN_SEARCH["function"]}
    ]
    assert ledger(1) == [("ok", "google_search")]


def test_mcp_tool_runs_a_registered_servers_tool(live, mcp_server):
    """An `mcp` tool: the server's allowed tools are listed (mcp_list_tools), the
    model's call runs there (mcp_call with its output), the model answers."""
    register(live, mcp_server.url)
    client = live.openai()
    response = client.responses.create(
        model=MODEL,
        input="Echo",
        tools=[mcp_tool(allowed_tools=["echo"])],
        extra_body=auto(),
    )
    listing, call, message = response.output
    assert isinstance(listing, McpListTools)
    assert listing.server_label == "fake"
    assert [tool.name for tool in listing.tools] == ["echo"]
    assert listing.error is None
    assert isinstance(call, McpCall)
    assert (call.server_label, call.name, call.status) == ("fake", "echo", "completed")
    assert json.loads(call.arguments) == {"text": FAKE_STRING}
    assert call.output == FAKE_STRING
    assert call.error is None
    assert isinstance(message, ResponseOutputMessage)
    assert sent_messages(live)[-1]["content"] == FAKE_STRING
    assert ledger(1) == [("ok", "fake__echo")]


def test_mcp_stream_events(live, mcp_server):
    register(live, mcp_server.url)
    events = list(
        live.openai().responses.create(
            model=MODEL,
            input="Echo",
            tools=[mcp_tool(allowed_tools={"tool_names": ["echo"]})],
            stream=True,
            extra_body=auto(),
        )
    )
    types = [event.type for event in events]
    assert types[:14] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added",
    ]
    assert types[-1] == "response.completed"
    assert isinstance(events[12].item, McpCall)
    assert events[12].item.output == FAKE_STRING
    arguments = "".join(e.delta for e in events if e.type.endswith("arguments.delta"))
    assert arguments == events[9].arguments == events[12].item.arguments


def test_another_projects_server_is_unknown(live, mcp_server):
    """A server registered for another organization's project (or none at all) is
    an unknown server_label: 400 naming the param, nothing about the server."""
    register(live, mcp_server.url, label="theirs", project=ProjectFactory())
    for label in ("theirs", "nowhere"):
        answer = live.post(
            "/v1/responses",
            {"model": MODEL, "input": "Hi", "tools": [mcp_tool(label)], **auto()},
        )
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error",
            "tools[0].server_label",
            "unknown_server_label",
        )
        assert mcp_server.url not in answer.text
    assert not StoredResponse.objects.exists()


@pytest.mark.parametrize("mode", ["garbage", "status"])
def test_serper_failing_is_a_failed_search_and_the_model_answers(live, serper, mode):
    serper.mode = mode
    response = live.openai().responses.create(
        model=MODEL, input="Find it", tools=[WEB_SEARCH], extra_body=auto()
    )
    search, message = response.output
    assert (search.type, search.status) == ("web_search_call", "failed")
    assert message.type == "message"
    assert response.status == "completed"
    tool = sent_messages(live)[-1]
    assert tool["role"] == "tool"
    assert tool["content"]
    assert ledger(1)[0][1] == "google_search"


def test_serper_slow_times_out_into_a_failed_search(live, serper, settings):
    serper.mode, serper.delay = "slow", 5.0
    settings.RESPONSES_TOOL_TIMEOUT_SECONDS = 0.2
    response = live.openai().responses.create(
        model=MODEL, input="Find it", tools=[WEB_SEARCH], extra_body=auto()
    )
    assert [(item.type, item.status) for item in response.output] == [
        ("web_search_call", "failed"),
        ("message", "completed"),
    ]
    assert "did not finish in time" in sent_messages(live)[-1]["content"]
    assert ledger(1) == [("timeout", "google_search")]


def test_a_tool_error_and_a_server_that_is_down(live, mcp_server):
    """A tool that fails is a failed mcp_call with its error; a server that is down
    is an mcp_list_tools with an error (its failed event) and offers nothing; the
    model gets its turn either way."""
    register(live, mcp_server.url, label="fake")
    with refusing_url() as down_url:
        register(live, down_url.replace("/v1", "/mcp"), label="down")
        events = list(
            live.openai().responses.create(
                model=MODEL,
                input="Fail",
                tools=[mcp_tool("down"), mcp_tool("fake", allowed_tools=["fail"])],
                stream=True,
                extra_body=auto(),
            )
        )
    types = [event.type for event in events]
    assert "response.mcp_list_tools.failed" in types
    assert "response.mcp_call.failed" in types
    final = events[-1].response
    assert final.status == "completed"
    down, listing, call, message = final.output
    assert (down.server_label, down.tools) == ("down", [])
    assert "cannot be reached" in down.error
    assert [tool.name for tool in listing.tools] == ["fail"]
    assert (call.name, call.status, call.output) == ("fail", "failed", None)
    assert call.error.type == "mcp_tool_execution_error"
    assert FAKE_STRING in json.dumps(call.error.content)
    assert message.type == "message"


def test_a_model_that_calls_tools_forever_stops_at_the_step_limit(
    live, serper, settings
):
    """tool_calls forever: RESPONSES_MAX_TOOL_STEPS rounds run, then the response
    ends incomplete with its reason; every step was admitted and accounted."""
    settings.RESPONSES_MAX_TOOL_STEPS = 2
    response = live.openai().responses.create(
        model=MODEL,
        input="Loop",
        tools=[WEB_SEARCH],
        extra_body=fake("tools_auto", "tool_calls"),
    )
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_tool_calls"
    assert [(item.type, item.status) for item in response.output] == [
        ("web_search_call", "completed"),
        ("web_search_call", "completed"),
        ("web_search_call", "incomplete"),
    ]
    assert ledger(2) == [("ok", "google_search")] * 2
    assert [status for status, _ in usage_rows()] == ["ok"] * 3
    stored = StoredResponse.objects.get(public_id=response.id)
    assert stored.incomplete_details == {"reason": "max_tool_calls"}


def test_client_function_tools_are_still_returned(live, serper):
    """A function tool that is not a server tool is the client's: its call ends the
    response, next to a server tool that was not called."""
    weather = {"type": "function", "name": "get_weather", "parameters": {}}
    response = live.openai().responses.create(
        model=MODEL,
        input="Weather?",
        tools=[weather, WEB_SEARCH],
        extra_body=auto(),
    )
    (call,) = response.output
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.name == "get_weather"
    assert not ToolCall.objects.exists()


def test_tool_items_are_stored_as_conversation_items(live, serper, mcp_server):
    """In a conversation, the tool items are appended (the SDK lists them), and a
    next turn sends the mcp_call back to the model as a call and its result."""
    register(live, mcp_server.url)
    client = live.openai()
    conversation = client.conversations.create()
    client.responses.create(
        model=MODEL,
        input="Echo",
        conversation=conversation.id,
        tools=[mcp_tool(allowed_tools=["echo"])],
        extra_body=auto(),
    )
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == [
        "message",
        "mcp_list_tools",
        "mcp_call",
        "message",
    ]
    assert items[2].output == FAKE_STRING
    client.responses.create(
        model=MODEL, input="Again", conversation=conversation.id, extra_body=fake()
    )
    messages = sent_messages(live)
    call = messages[1]["tool_calls"][0]
    assert call["function"]["name"] == "fake__echo"
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": FAKE_STRING,
    }
    assert Item.objects.filter(type="mcp_call").count() == 1


def test_a_client_that_goes_away_during_a_tool_call_abandons_it(live, serper):
    """The stream closes while the search runs: the call is cancelled (its ledger
    row says so) and the stored response keeps no half-done tool item."""
    serper.mode, serper.delay = "slow", 30.0
    with httpx.stream(
        "POST",
        f"{live.url}/v1/responses",
        json={
            "model": MODEL,
            "input": "Find it",
            "tools": [WEB_SEARCH],
            "stream": True,
            **auto(),
        },
        headers=live.headers,
        timeout=30,
    ) as answer:
        received = b""
        for chunk in answer.iter_bytes():
            received += chunk
            if b"response.web_search_call.searching" in received:
                break
    response_id = json.loads(received.split(b"data: ", 1)[1].split(b"\n", 1)[0])[
        "response"
    ]["id"]
    assert ledger(1) == [("cancelled", "google_search")]
    for _ in range(200):
        row = StoredResponse.objects.get(public_id=response_id)
        if row.status != "in_progress":
            break
        time.sleep(0.05)
    assert row.status == "incomplete"
    assert row.output == []


def test_cancel_a_background_response_during_a_tool_call(live, serper):
    serper.mode, serper.delay = "slow", 30.0
    client = live.openai()
    response = client.responses.create(
        model=MODEL,
        input="Find it",
        tools=[WEB_SEARCH],
        background=True,
        extra_body=auto(),
    )
    for _ in range(200):
        if serper.requests:
            break
        time.sleep(0.05)
    assert serper.requests
    cancelled = client.responses.cancel(response.id)
    assert cancelled.status == "cancelled"
    assert ledger(1) == [("cancelled", "google_search")]
    for _ in range(200):
        row = StoredResponse.objects.get(public_id=response.id)
        if row.completed_at is not None and row.output is not None:
            break
        time.sleep(0.05)
    assert row.status == "cancelled"
    assert all(item["type"] != "web_search_call" for item in row.output)


def test_unsupported_approvals_are_refused(live):
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "tools": [
                {"type": "mcp", "server_label": "x", "require_approval": "always"}
            ],
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "tools[0].require_approval"
    with pytest.raises(openai.BadRequestError):
        live.openai().responses.create(
            model=MODEL,
            input="Hi",
            tools=[{"type": "mcp", "server_label": "x", "require_approval": "always"}],
        )


def test_tool_items_come_back_as_input(live, mcp_server):
    """A response's output, tool items included, is valid input of the next one
    (the SDK's usual loop); the mcp_call reaches the model as a call and a result."""
    register(live, mcp_server.url)
    client = live.openai()
    first = client.responses.create(
        model=MODEL,
        input="Echo",
        tools=[mcp_tool(allowed_tools=["echo"])],
        extra_body=auto(),
    )
    again = [item.model_dump(exclude_none=True) for item in first.output]
    second = client.responses.create(
        model=MODEL,
        input=[*again, {"role": "user", "content": "More"}],
        extra_body=fake(),
    )
    assert second.status == "completed"
    assert [item["type"] for item in second.model_dump()["output"]] == ["message"]
    roles = [message["role"] for message in sent_messages(live)]
    assert roles == ["assistant", "tool", "assistant", "user"]


def test_each_model_step_is_admitted_by_the_rate_limits(live, serper):
    """A key allowed one request a minute: the first model step runs and its search
    too, the second step is refused, and the response fails saying so."""
    key = ApiKey.objects.get(project=live.project)
    rate_limit_set(
        organization=key.organization,
        api_key=key,
        model="",
        limits={"max_requests_per_1_minute": 1},
    )
    before = live.fake.recorder.total_requests
    response = live.openai().responses.create(
        model=MODEL, input="Find it", tools=[WEB_SEARCH], extra_body=auto()
    )
    assert response.status == "failed"
    assert [item.type for item in response.output] == ["web_search_call"]
    assert response.error.code == "rate_limit_exceeded"
    assert live.fake.recorder.total_requests == before + 1
    assert [status for status, _ in usage_rows()] == ["ok", "rate_limited"]


def test_a_background_response_with_tools_streams_and_resumes(live, serper):
    client = live.openai()
    events = list(
        client.responses.create(
            model=MODEL,
            input="Find it",
            tools=[WEB_SEARCH],
            background=True,
            stream=True,
            extra_body=auto(),
        )
    )
    types = [event.type for event in events]
    assert types[2:7] == [
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    assert types[-1] == "response.completed"
    final = events[-1].response
    replayed = list(client.responses.retrieve(final.id, stream=True, starting_after=3))
    assert [event.type for event in replayed] == types[4:]
    assert replayed[-1].response.output == final.output


WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {}},
}


def sent_bodies(live, count: int) -> list[dict]:
    """The bodies of the last `count` chat requests the fake vLLM received."""
    return [request.body for request in list(live.fake.recorder.requests)[-count:]]


def offered(body: dict) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or []]


@pytest.mark.parametrize("stream", [False, True])
def test_max_tool_calls_ignores_the_calls_past_it(live, serper, stream):
    """max_tool_calls 1, a model that makes two searches: the first runs, the
    second is not run (its item ends incomplete, the model is told the limit was
    reached), the next step offers no server tool and the model answers; the
    response completes and echoes max_tool_calls."""
    client = live.openai()
    answer = client.responses.create(
        model=MODEL,
        input="Find it twice",
        tools=[WEB_SEARCH],
        max_tool_calls=1,
        stream=stream,
        extra_body=fake("tools_auto", tool_calls=2),
    )
    if stream:
        events = list(answer)
        done = [e.item for e in events if e.type == "response.output_item.done"]
        assert [(item.type, item.status) for item in done] == [
            ("web_search_call", "completed"),
            ("web_search_call", "incomplete"),
            ("message", "completed"),
        ]
        response = events[-1].response
    else:
        response = answer
    assert response.status == "completed"
    assert response.max_tool_calls == 1
    assert [(item.type, item.status) for item in response.output] == [
        ("web_search_call", "completed"),
        ("web_search_call", "incomplete"),
        ("message", "completed"),
    ]
    assert response.output[1].action.query == FAKE_STRING
    assert len(serper.requests) == 1
    assert ledger(1) == [("ok", "google_search")]
    first, last = sent_bodies(live, 2)
    assert offered(first) == ["google_search", "scrape"]
    assert "tools" not in last
    assert "tool_choice" not in last
    *_, ran, ignored = last["messages"]
    assert f"Result 1 for {FAKE_STRING}" in ran["content"]
    assert "max_tool_calls" in ignored["content"]
    assert client.responses.retrieve(response.id).max_tool_calls == 1


def test_max_tool_calls_holds_in_a_background_response(live, serper):
    """The same limit in a background response, streamed then replayed."""
    client = live.openai()
    events = list(
        client.responses.create(
            model=MODEL,
            input="Find it twice",
            tools=[WEB_SEARCH],
            max_tool_calls=1,
            background=True,
            stream=True,
            extra_body=fake("tools_auto", tool_calls=2),
        )
    )
    final = events[-1].response
    assert (final.status, final.max_tool_calls) == ("completed", 1)
    assert [item.status for item in final.output] == [
        "completed",
        "incomplete",
        "completed",
    ]
    assert len(serper.requests) == 1
    replayed = list(client.responses.retrieve(final.id, stream=True))
    assert replayed[-1].response.output == final.output
    assert client.responses.retrieve(final.id).max_tool_calls == 1


def test_max_tool_calls_leaves_client_function_tools_offered(live, serper):
    """Client function tools are not built-in: once the limit is reached they are
    still offered, only the server tools are withdrawn."""
    live.openai().responses.create(
        model=MODEL,
        input="Find it twice",
        tools=[WEB_SEARCH, WEATHER],
        tool_choice={"type": "web_search"},
        max_tool_calls=1,
        extra_body=fake("tools_auto", tool_calls=2),
    )
    first, last = sent_bodies(live, 2)
    assert offered(first) == ["get_weather", "google_search", "scrape"]
    assert offered(last) == ["get_weather"]
    assert last["tool_choice"] == "auto"


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", ["web_search", "web_search_preview"])
def test_tool_choice_web_search_forces_the_search(live, serper, kind, stream):
    """tool_choice web_search reaches the model as its search function (the fake
    calls the function a tool_choice names, not the first offered), for the first
    step only: the model then answers."""
    client = live.openai()
    answer = client.responses.create(
        model=MODEL,
        input="Weather or search?",
        tools=[WEATHER, {"type": kind}],
        tool_choice={"type": kind},
        stream=stream,
        extra_body=auto(),
    )
    response = list(answer)[-1].response if stream else answer
    assert response.status == "completed"
    # The SDK's ToolChoiceTypes has web_search_preview only: web_search stays a dict.
    assert response.model_dump()["tool_choice"] == {"type": kind}
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    first, second = sent_bodies(live, 2)
    assert first["tool_choice"] == {
        "type": "function",
        "function": {"name": "google_search"},
    }
    assert second["tool_choice"] == "auto"
    assert offered(second) == offered(first)
    assert client.responses.retrieve(response.id).model_dump()["tool_choice"] == {
        "type": kind
    }


@pytest.mark.parametrize("stream", [False, True])
def test_tool_choice_mcp_with_a_name_forces_that_tool(live, serper, mcp_server, stream):
    register(live, mcp_server.url)
    answer = live.openai().responses.create(
        model=MODEL,
        input="Add",
        tools=[WEB_SEARCH, mcp_tool(allowed_tools=["echo", "add"])],
        tool_choice={"type": "mcp", "server_label": "fake", "name": "add"},
        stream=stream,
        extra_body=auto(),
    )
    response = list(answer)[-1].response if stream else answer
    assert [item.type for item in response.output] == [
        "mcp_list_tools",
        "mcp_call",
        "message",
    ]
    call = response.output[1]
    assert (call.type, call.name, call.status, call.output) == (
        "mcp_call",
        "add",
        "completed",
        "4",
    )
    assert response.tool_choice.server_label == "fake"
    assert response.tool_choice.name == "add"
    first, second = sent_bodies(live, 2)
    assert first["tool_choice"] == {
        "type": "function",
        "function": {"name": "fake__add"},
    }
    assert second["tool_choice"] == "auto"
    assert ledger(1) == [("ok", "fake__add")]


def test_tool_choice_mcp_without_a_name_requires_that_servers_tools(
    live, serper, mcp_server
):
    """No name: the first step offers only that server's tools, with `required`;
    the next one all the tools again, with `auto`."""
    register(live, mcp_server.url)
    response = live.openai().responses.create(
        model=MODEL,
        input="Echo",
        tools=[WEB_SEARCH, mcp_tool(allowed_tools=["echo"])],
        tool_choice={"type": "mcp", "server_label": "fake"},
        extra_body=auto(),
    )
    assert [item.type for item in response.output] == [
        "mcp_list_tools",
        "mcp_call",
        "message",
    ]
    first, second = sent_bodies(live, 2)
    assert (offered(first), first["tool_choice"]) == (["fake__echo"], "required")
    assert offered(second) == ["google_search", "scrape", "fake__echo"]
    assert second["tool_choice"] == "auto"


def test_tool_choice_allowed_tools_restricts_every_step(live, serper):
    response = live.openai().responses.create(
        model=MODEL,
        input="Search",
        tools=[WEATHER, WEB_SEARCH],
        tool_choice={
            "type": "allowed_tools",
            "mode": "required",
            "tools": [{"type": "web_search"}],
        },
        extra_body=auto(),
    )
    assert [item.type for item in response.output] == ["web_search_call", "message"]
    assert response.tool_choice.type == "allowed_tools"
    first, second = sent_bodies(live, 2)
    search = ["google_search", "scrape"]
    assert (offered(first), first["tool_choice"]) == (search, "required")
    assert (offered(second), second["tool_choice"]) == (search, "auto")


def test_tool_choice_naming_a_tool_the_server_does_not_offer(live, mcp_server):
    """A tool the registered server does not have (or a server that offers nothing
    now) is a 400 naming tool_choice, before any model call."""
    register(live, mcp_server.url)
    before = live.fake.recorder.total_requests
    answer = live.post(
        "/v1/responses",
        {
            "model": MODEL,
            "input": "Hi",
            "tools": [mcp_tool()],
            "tool_choice": {"type": "mcp", "server_label": "fake", "name": "nope"},
        },
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["param"], error["code"]) == ("tool_choice", "invalid_value")
    assert live.fake.recorder.total_requests == before
    assert not StoredResponse.objects.exists()
