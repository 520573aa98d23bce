"""The in-process interface (tools.registry): what a Responses run calls."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from prometheus_client import REGISTRY

from janserver import auth
from orgs.services import api_key_create
from orgs.tests.factories import ProjectFactory, ProjectMemberFactory
from tools import registry
from tools.models import ToolCall
from tools.tests.test_mcp_endpoint import wait_for_calls

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def principal():
    member = ProjectMemberFactory(project=ProjectFactory())
    _, secret = api_key_create(
        kind="project",
        organization=member.project.organization,
        project=member.project,
        owner=member.user,
    )
    return auth._finish(auth._resolve(secret))


def counted(tool: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "janserver_tool_calls_total", {"tool": tool, "outcome": outcome}
        )
        or 0.0
    )


async def test_list_and_call_in_process(serper, settings):
    caller = await sync_to_async(principal)()
    before = counted("google_search", "ok")
    toolbox = await registry.toolbox_for(caller)
    assert sorted(toolbox.tools) == ["google_search", "scrape"]
    assert toolbox.get("scrape").input_schema["required"] == ["url"]
    result = await toolbox.call(
        "google_search", {"q": "in process", "num": 2}, request_id="req_x"
    )
    assert (result.is_error, result.outcome) == (False, "ok")
    assert [item["position"] for item in result.data["organic"]] == [1, 2]
    with pytest.raises(registry.UnknownTool):
        await toolbox.call("nope", {})
    assert await wait_for_calls(1) == [("ok", "google_search")]
    record = await sync_to_async(ToolCall.objects.get)()
    assert (record.channel, record.request_id, record.server_label) == (
        "responses",
        "req_x",
        "builtin",
    )
    assert (record.project_id, record.api_key_id) == (
        caller.project_id,
        caller.api_key_id,
    )
    assert counted("google_search", "ok") == before + 1


async def test_a_time_limit_and_a_cancelled_caller(serper):
    caller = await sync_to_async(principal)()
    toolbox = await registry.toolbox_for(caller)
    serper.mode, serper.delay = "slow", 3.0
    late = await toolbox.call("google_search", {"q": "x"}, time_limit=0.5)
    assert (late.is_error, late.outcome) == (True, "timeout")
    task = asyncio.ensure_future(toolbox.call("google_search", {"q": "y"}))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_for_calls(2) == [
        ("timeout", "google_search"),
        ("cancelled", "google_search"),
    ]
