"""aiohttp routes of the fake vLLM server: generation, streaming and fault modes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, NoReturn, cast

from aiohttp import web

from inference.testing.fake_vllm_events import (
    DONE,
    TICK,
    ChatResponse,
    CompletionResponse,
    Event,
)
from inference.testing.fake_vllm_plan import (
    MODE_HEADER,
    PRE_HEADER_FAULTS,
    FakeSettings,
    Kind,
    Plan,
    PlanError,
    UnknownModel,
    make_plan,
    settings_override,
)
from inference.testing.fake_vllm_record import (
    CANCELLED,
    COMPLETED,
    DISCONNECTED,
    DROPPED,
    RecordedRequest,
    Recorder,
)

DEFAULT_MODELS = ("jan-v1-4b",)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_MODEL_LEN = 32768
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
}
GARBAGE_EVENTS = (
    b'data: {"id": "chatcmpl-garbage", "choices": [\n\n',
    b"data: not json\n\n",
    DONE,
)
GARBAGE_BODY = b'{"id": "cmpl-garbage", "object": "chat.completion", "choices": ['
HTML_BODY = (
    b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
)
ERROR_TYPES = {400: "BadRequestError", 404: "NotFoundError"}
MID_STREAM_ERROR = {
    "message": "Fake mid-stream failure.",
    "type": "InternalServerError",
    "param": None,
    "code": 500,
}
ERROR_EVENT = b"data: " + json.dumps({"error": MID_STREAM_ERROR}).encode() + b"\n\n"


def error_response(status: int, message: str, param: str | None = None) -> web.Response:
    """Return a vLLM-style error: `{"error": {message, type, param, code}}`."""
    error_type = ERROR_TYPES.get(status, "InternalServerError")
    error = {"message": message, "type": error_type, "param": param, "code": status}
    return web.json_response({"error": error}, status=status)


async def hang() -> NoReturn:
    """Wait until cancelled (the client went away or the server stops)."""
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable: the future is never resolved")


def client_gone(request: web.BaseRequest) -> bool:
    """Tell whether the request's connection is closed or closing."""
    transport = request.transport
    return transport is None or transport.is_closing()


class FakeApp:
    """The fake server's state (settings, models, recordings) and its routes."""

    def __init__(
        self,
        *,
        models: tuple[str, ...] = DEFAULT_MODELS,
        settings: FakeSettings | None = None,
        history: int = 100,
    ) -> None:
        self.models = tuple(models)
        self.settings = settings or FakeSettings()
        self.recorder = Recorder(history)
        self._tasks: set[asyncio.Task[Any]] = set()

    def make_app(self) -> web.Application:
        """Build the aiohttp application; the model list is encoded here, once."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.list_models(self.models))
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/v1/completions", self.completions)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.Response()

    @staticmethod
    def list_models(models: tuple[str, ...]) -> Handler:
        """Return a handler serving a pre-encoded OpenAI model list."""
        created = int(time.time())
        data = [
            {"id": model, "object": "model", "created": created, "owned_by": "vllm"}
            | {
                "root": model,
                "parent": None,
                "max_model_len": MAX_MODEL_LEN,
                "permission": [],
            }
            for model in models
        ]
        body = json.dumps({"object": "list", "data": data}).encode()

        async def handler(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="application/json")

        return handler

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "chat")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "completion")

    async def _generate(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        raw = await request.read()
        entry = self.recorder.record(request.method, request.path, request.headers, raw)
        task = cast(
            "asyncio.Task[Any]", asyncio.current_task()
        )  # aiohttp's handler task
        self._tasks.add(task)
        try:
            response = await self._respond(request, kind, raw, entry)
            entry.status = response.status
            self.recorder.ended(entry, COMPLETED)
            return response
        except asyncio.CancelledError:
            self.recorder.ended(
                entry, DISCONNECTED if client_gone(request) else CANCELLED
            )
            raise
        finally:
            self._tasks.discard(task)

    async def _respond(
        self, request: web.Request, kind: Kind, raw: bytes, entry: RecordedRequest
    ) -> web.StreamResponse:
        try:
            plan = self._plan(request, kind, raw, entry)
        except PlanError as exc:
            return error_response(400, str(exc))
        except UnknownModel as exc:
            return error_response(404, f"The model `{exc}` does not exist.", "model")
        if plan.fault in PRE_HEADER_FAULTS:
            return await self._pre_header_fault(plan)
        response = ChatResponse(plan) if kind == "chat" else CompletionResponse(plan)
        if plan.stream:
            return await self._stream(request, plan, response, entry)
        return await self._complete(request, plan, response, entry)

    def _plan(
        self, request: web.Request, kind: Kind, raw: bytes, entry: RecordedRequest
    ) -> Plan:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise PlanError(f"Invalid JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise PlanError("The request body must be a JSON object.")
        entry.body = body
        header_mode = request.headers.get(MODE_HEADER)
        settings = settings_override(self.settings, body.get("fake"), header_mode)
        return make_plan(kind, body, settings, self.models)

    async def _pre_header_fault(self, plan: Plan) -> web.StreamResponse:
        if plan.fault == "hang_before_headers":
            await hang()
        if plan.fault == "error_500":
            status = plan.settings.error_status
            return error_response(status, f"Fake upstream failure ({status}).")
        if plan.fault == "html":
            return web.Response(body=HTML_BODY, content_type="text/html")
        if plan.stream:
            return web.Response(body=b"".join(GARBAGE_EVENTS), headers=SSE_HEADERS)
        return web.Response(body=GARBAGE_BODY, content_type="application/json")

    async def _stream(
        self,
        request: web.Request,
        plan: Plan,
        response: ChatResponse | CompletionResponse,
        entry: RecordedRequest,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers=SSE_HEADERS)
        await resp.prepare(request)
        entry.status = resp.status
        self.recorder.opened(entry)
        settings = plan.settings
        if plan.slow_first_token:
            await asyncio.sleep(settings.first_token_delay_ms / 1000)
        cut = settings.drop_after if plan.fault else -1
        events = response.events(ticks=settings.delay_ms > 0)
        try:
            if await _pump(resp, events, settings.delay_ms / 1000, cut, entry):
                await self._mid_stream_fault(request, resp, plan, entry)
            elif plan.linger_after_done:
                await hang()
        except ConnectionResetError:
            self.recorder.ended(entry, DISCONNECTED)
        return resp

    async def _mid_stream_fault(
        self,
        request: web.Request,
        resp: web.StreamResponse,
        plan: Plan,
        entry: RecordedRequest,
    ) -> None:
        if plan.fault == "stall_mid_stream":
            await hang()
        if plan.fault == "error_mid_stream":
            await resp.write(ERROR_EVENT + DONE)
            return
        self.recorder.ended(entry, DROPPED)
        resp.force_close()
        if request.transport is not None:
            request.transport.close()

    async def _complete(
        self,
        request: web.Request,
        plan: Plan,
        response: ChatResponse | CompletionResponse,
        entry: RecordedRequest,
    ) -> web.StreamResponse:
        settings = plan.settings
        tokens = plan.reasoning_count + plan.content_tokens
        delay_ms = settings.delay_ms * max(tokens - 1, 0)
        if plan.slow_first_token:
            delay_ms += settings.first_token_delay_ms
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        body = response.body()
        if plan.fault is None:
            return web.Response(body=body, content_type="application/json")
        if plan.fault == "error_mid_stream":
            return error_response(500, "Fake upstream failure (500).")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = len(body)
        await resp.prepare(request)
        entry.status = resp.status
        await resp.write(body[: len(body) // 2])
        await self._mid_stream_fault(request, resp, plan, entry)
        return resp


async def _pump(
    resp: web.StreamResponse,
    events: Iterator[Event],
    delay: float,
    cut: int,
    entry: RecordedRequest,
) -> bool:
    """Write events (one write each); return True if stopped at the `cut`-th.

    Tokens are due at fixed intervals from the first one, so timer lateness
    does not add up over a long stream.
    """
    sent = 0
    clock = asyncio.get_running_loop().time
    due = clock()
    try:
        for event in events:
            if event is TICK:
                due += delay
                if (wait := due - clock()) > 0:
                    await asyncio.sleep(wait)
            elif sent == cut:
                return True
            else:
                await resp.write(event)
                sent += 1
        return False
    finally:
        entry.chunks_sent = sent
