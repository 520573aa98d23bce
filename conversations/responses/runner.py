"""Drive a response's upstream chat streams into Responses events, output items and a
stored end.

`execute(run, emit)` emits the events of a run (None stands for "nothing new yet", a
heartbeat): created, in_progress, the output item events, then exactly one terminal
event, which is emitted only once the outcome is stored. A run with server-side tools
(tooling.py) loops: a model step that calls them gets their results
(toolruns.py) and the model the next step, each step admitted by the pipeline (rate
limits, budgets) and leaving its own usage row, for at most RESPONSES_MAX_TOOL_STEPS
rounds of tool calls (then the response ends `incomplete`). A request's
`max_tool_calls` caps the server calls run in the whole response: the calls past it
are ignored (toolruns.calls_ignore) and the later steps offer no server tool
(tooling.without_server_tools); after the first step a forced tool_choice is lifted
(tooling.chat_offer). The upstream's events come
through the one relay loop (inference.streaming.relay). When the run is cancelled (a
client disconnect, a cancel, a shutdown) the conclusion runs in a background task
(janserver.background): the upstream is closed, the partial output stored, usage
recorded, and a background response's terminal event published to its buffer.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.utils import timezone

from conversations.models import ResponseStatus
from conversations.responses import buffer, services, tooling, toolruns
from conversations.responses.events import Event, OutputBuilder, Sequencer, StepCall
from conversations.responses.objects import (
    Record,
    response_object,
    usage_object,
    usage_sum,
)
from inference import pipeline, upstream
from inference.accounting import Accounting
from inference.assembly import ChatAssembler
from inference.catalog import ModelEntry
from inference.models import UsageStatus
from inference.payloads import InferenceRequest
from inference.pipeline import Call
from inference.streaming import StreamState, relay
from janserver import background, db
from janserver.errors import APIError, UpstreamError

logger = logging.getLogger("janserver.responses")

TERMINAL_EVENT = {
    ResponseStatus.COMPLETED: "response.completed",
    ResponseStatus.FAILED: "response.failed",
    ResponseStatus.INCOMPLETE: "response.incomplete",
    # No `response.cancelled` event exists: a cancelled stream ends incomplete.
    ResponseStatus.CANCELLED: "response.incomplete",
}
Publish = Callable[[Event], Awaitable[None]]
# Where execute() sends a run's events; None stands for a heartbeat.
Emit = Callable[[Event | None], Awaitable[None]]


@dataclass
class Run:
    """One response being generated."""

    record: Record
    payload: InferenceRequest
    entry: ModelEntry
    account: Accounting
    conversation_id: int | None = None
    call: Call | None = None  # admits each further model step (tool runs)
    tools: tooling.ToolSet = field(default_factory=tooling.ToolSet)
    opened: upstream.OpenStream | None = None
    publish: Publish | None = None
    cancel_requested: bool = False
    seq: Sequencer = field(default_factory=Sequencer)
    state: StreamState = field(default_factory=lambda: StreamState(strip_usage=False))
    assembler: ChatAssembler = field(default_factory=ChatAssembler)
    output: OutputBuilder = field(init=False)
    failure: APIError | None = None
    concluded: bool = False
    tool_rounds: int = 0
    tool_calls_run: int = 0  # server-side tool calls run, for max_tool_calls
    step_limited: bool = False
    usages: list[dict[str, Any]] = field(default_factory=list)  # of earlier steps

    def __post_init__(self) -> None:
        self.output = OutputBuilder(self.seq, self.tools.get)

    def snapshot_event(self, kind: str) -> Event:
        return self.seq.event(kind, response=response_object(self.record))


async def _keep_alive(public_id: str) -> None:
    """Touch the stored response while it runs, so that it is never taken for the
    response of a lost process (services.responses_orphaned_fail)."""
    while True:
        await asyncio.sleep(float(settings.RESPONSES_HEARTBEAT_SECONDS))
        await db.run(services.response_touch, public_id=public_id)


async def execute(run: Run, emit: Emit) -> None:
    """Run `run` to its end, emitting its events (see the module docstring)."""
    keeper = (
        asyncio.ensure_future(_keep_alive(run.record.public_id))
        if run.record.store
        else None
    )
    try:
        await _execute(run, emit)
    finally:
        if keeper is not None:
            keeper.cancel()


async def _execute(run: Run, emit: Emit) -> None:
    outcome: str | None = None
    try:
        await emit(run.snapshot_event("response.created"))
        if await _start(run):
            await emit(run.snapshot_event("response.in_progress"))
            for listing in run.tools.listings:
                for event in run.output.listing(listing):
                    await emit(event)
            await _steps(run, emit)
            outcome = _outcome(run)
        else:
            outcome = ResponseStatus.CANCELLED
    except asyncio.CancelledError:
        background.spawn(
            _conclude_and_publish(run, _interrupted(run)), name="response-end"
        )
        raise
    for event in await conclude(run, outcome):
        await emit(event)


async def _start(run: Run) -> bool:
    """Open the upstream unless open; False when a queued response was cancelled."""
    record = run.record
    if record.status == ResponseStatus.QUEUED:
        if not await db.run(services.response_start, public_id=record.public_id):
            return False
        record.status = ResponseStatus.IN_PROGRESS
    if run.opened is None:
        try:
            opened = await pipeline.open_upstream(run.payload, run.entry, run.account)
        except APIError as error:
            run.failure = error
        else:
            run.opened = opened.stream
    return True


async def _steps(run: Run, emit: Emit) -> None:
    """Relay model steps, running their server-side tool calls between them."""
    while run.opened is not None:
        await relay(run.opened.read, run.state, _RunSink(run, emit))
        calls = run.output.step_calls
        server_calls = [call for call in calls if call.server is not None]
        if (
            not server_calls
            or run.state.error is not None
            or run.assembler.finish_reason == "length"
        ):
            return
        if run.tool_rounds >= toolruns.max_tool_steps():
            run.step_limited = True
            return
        for event in run.output.close("completed"):
            await emit(event)
        toolbox = run.tools.toolbox
        if toolbox is None:  # never: server calls come from it
            return
        ran, ignored = _within_limit(run, server_calls)
        results = await toolruns.calls_run(
            run.output,
            toolbox,
            ran,
            request_id=run.account.request_id,
            emit=emit,
        )
        run.tool_calls_run += len(ran)
        if ignored:
            results += await toolruns.calls_ignore(
                run.output, ignored, limit=_max_tool_calls(run) or 0, emit=emit
            )
        if len(server_calls) < len(calls):
            return  # the client's own function calls: returned to it
        run.tool_rounds += 1
        messages = toolruns.step_messages(run.assembler.content, calls, results)
        await _next_step(run, messages)


def _max_tool_calls(run: Run) -> int | None:
    limit = (run.record.parameters or {}).get("max_tool_calls")
    return limit if isinstance(limit, int) else None


def _limit_reached(run: Run) -> bool:
    limit = _max_tool_calls(run)
    return limit is not None and run.tool_calls_run >= limit


def _within_limit(
    run: Run, calls: list[StepCall]
) -> tuple[list[StepCall], list[StepCall]]:
    """A step's server calls split into those run and those past max_tool_calls
    (ignored: told to the model, not run)."""
    limit = _max_tool_calls(run)
    if limit is None:
        return calls, []
    room = max(0, limit - run.tool_calls_run)
    return calls[:room], calls[room:]


async def _next_step(run: Run, messages: list[dict[str, Any]]) -> None:
    """Account the step that ended; admit and open the next one with `messages`
    added (a refusal or an upstream failure fails the response)."""
    _account(run, ResponseStatus.COMPLETED)
    run.usages.append(run.assembler.usage or run.state.usage or {})
    if run.opened is not None:
        await run.opened.aclose()
        run.opened = None
    offer = run.tools.later
    if _limit_reached(run):
        offer = tooling.without_server_tools(run.tools, offer)
    body = {
        **{
            key: value
            for key, value in run.payload.body.items()
            if key not in ("tools", "tool_choice")
        },
        **offer,
        "messages": [*run.payload.body["messages"], *messages],
    }
    run.payload = replace(run.payload, body=body)
    run.assembler = ChatAssembler()
    run.state = StreamState(strip_usage=False)
    run.output.new_step()
    if run.call is None:
        run.failure = UpstreamError("The next model step could not be admitted.")
        return
    try:
        run.account = await pipeline.admit(
            run.call, run.payload, "responses", stream=run.account.stream
        )
        opened = await pipeline.open_upstream(run.payload, run.entry, run.account)
    except APIError as error:
        run.failure = error
        return
    run.opened = opened.stream


class _RunSink:
    """The relay's Sink of a run: chat events become Responses events."""

    __slots__ = ("emit", "run")

    def __init__(self, run: Run, emit: Emit) -> None:
        self.run = run
        self.emit = emit

    async def events(self, events: bytes) -> None:
        run = self.run
        run.account.first_sent()
        for delta in run.assembler.feed(events):
            for event in run.output.feed(delta):
                await self.emit(event)

    async def idle(self) -> None:
        await self.emit(None)


def _outcome(run: Run) -> str:
    if run.failure is not None or run.state.error is not None:
        return ResponseStatus.FAILED
    if run.assembler.finish_reason == "length" or run.step_limited:
        return ResponseStatus.INCOMPLETE
    return ResponseStatus.COMPLETED


def _interrupted(run: Run) -> str:
    if run.cancel_requested:
        return ResponseStatus.CANCELLED
    if run.record.background:  # only a shutdown stops a background response
        run.failure = UpstreamError("The server stopped before the response finished.")
        return ResponseStatus.FAILED
    return ResponseStatus.INCOMPLETE  # the client went away


def _settle_record(run: Run, status: str) -> None:
    record = run.record
    record.status = status
    record.output = run.output.items
    record.usage = usage_object(_usage_total(run))
    record.completed_at = int(timezone.now().timestamp())
    error = run.failure or run.state.error
    if status == ResponseStatus.FAILED and error is not None:
        code = "rate_limit_exceeded" if error.status == 429 else "server_error"
        record.error = {"code": code, "message": error.message}
    if status == ResponseStatus.INCOMPLETE:
        reason = None
        if run.assembler.finish_reason == "length":
            reason = "max_output_tokens"
        elif run.step_limited:
            reason = "max_tool_calls"
        record.incomplete_details = {"reason": reason}


def _usage_total(run: Run) -> dict[str, Any] | None:
    """The chat usage of every model step of the run, added up."""
    last = run.assembler.usage or run.state.usage
    return usage_sum([*run.usages, last or {}]) if run.usages else last


def _account(run: Run, status: str) -> None:
    if run.failure is not None:
        return  # the upstream never answered: pipeline.open_upstream recorded it
    if (
        status in (ResponseStatus.INCOMPLETE, ResponseStatus.CANCELLED)
        and run.assembler.finish_reason != "length"
        and not run.step_limited
    ):
        usage_status = UsageStatus.DISCONNECTED
    else:
        usage_status = UsageStatus.UPSTREAM_ERROR if run.state.error else UsageStatus.OK
    run.account.finish(
        status=usage_status,
        http_status=200,
        usage_data=run.assembler.usage or run.state.usage,
        completion_tokens_seen=run.state.completion_tokens_seen,
        disconnected=usage_status == UsageStatus.DISCONNECTED,
    )


async def conclude(run: Run, status: str, *, interrupted: bool = False) -> list[Event]:
    """End `run` with `status` (once): close the upstream and the open items (an
    `interrupted` run drops its unfinished tool calls), store the outcome, record
    usage; return the last events, the terminal one last."""
    if run.concluded:
        return []
    run.concluded = True
    if run.opened is not None:
        await run.opened.aclose()
    item_status = "completed" if status == ResponseStatus.COMPLETED else "incomplete"
    events = run.output.close(item_status)
    events += run.output.unfinished_settle(drop=interrupted)
    _settle_record(run, status)
    _account(run, status)
    try:
        stored = await db.run(
            services.response_finish,
            record=run.record,
            conversation_id=run.conversation_id,
        )
    except Exception:
        logger.exception("Could not store the end of response %s", run.record.public_id)
        stored = run.record.status
    run.record.status = stored or run.record.status
    events.append(run.snapshot_event(TERMINAL_EVENT[run.record.status]))  # type: ignore[index]
    return events


async def _conclude_and_publish(run: Run, status: str) -> None:
    events = await conclude(run, status, interrupted=True)
    if run.publish is not None:
        for event in events:
            await run.publish(event)


async def drive(run: Run) -> None:
    """Run a background response to its end, publishing every event as it comes.

    An event that cannot be published (the buffer went away) is logged and the run
    goes on: its end is still stored, for a client that polls.
    """

    async def publish(event: Event | None) -> None:
        if event is None or run.publish is None:
            return
        try:
            await run.publish(event)
        except Exception:
            logger.exception(
                "Event %s of %s not published", event["type"], run.record.public_id
            )

    await execute(run, publish)


async def run_in_background(run: Run) -> None:
    """Drive a background response; a broadcast cancel stops it (see buffer)."""
    task = asyncio.current_task()

    def on_cancel() -> None:
        if not run.concluded and task is not None:
            run.cancel_requested = True
            task.cancel()

    async with buffer.cancel_watch(run.record.public_id, on_cancel):
        await drive(run)
