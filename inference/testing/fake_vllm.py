"""A fake vLLM OpenAI-compatible server: the upstream of tests and benchmarks.

It answers like vLLM's OpenAI server run with `--reasoning-parser qwen3
--tool-call-parser hermes`: `GET /v1/models`, `POST /v1/chat/completions`,
`POST /v1/completions` (stream and not; one choice, `n` is ignored) and
`GET /health`. It imports no Django, so benchmarks can run it alone:

    python -m inference.testing.fake_vllm --port 8101 --tokens 64 --delay-ms 10

Every server option is also a per-request override, in the body's `fake` object
(the gateway passes unknown fields through); the `X-Fake-Mode: a,b` header sets
only the modes. A request's modes replace the server's default modes.

    {"fake": {"tokens": 64, "delay_ms": 10, "mode": ["reasoning", "extra"]}}

- `tokens`: content tokens (max_tokens or max_completion_tokens caps them, with
  finish_reason "length"); `delay_ms` between tokens; `reasoning_tokens` before
  the content in `reasoning` mode; `tool_calls` calls in `tool_calls` mode;
  `first_token_delay_ms` for `slow_first_token`; `drop_after` events before a
  mid-stream fault; `error_status` for `error_500`.
- Content modes (chat only, except `extra`): `reasoning` (`reasoning_content` and
  `reasoning` deltas, then the content), `tool_calls` (hermes deltas: id, type and
  name first, then argument fragments; finish_reason "tool_calls"), `tools_auto`
  (as a model with tools: a call of the first offered tool, or of the function a
  `tool_choice` names, with arguments that satisfy its schema, when the request
  offers tools and its last message is not a tool result, or `tool_choice` is
  `required` or names a function; never when it is `none`; the content
  otherwise), `extra`
  (unknown `x_fake*` members at the top level, in the choice and in the delta).
  A request's `logprobs: true` (chat) or `logprobs: N` (completions) adds logprobs;
  its `stop` ends the content just before the first stop sequence in it, with
  finish_reason "stop" and the sequence as `stop_reason`, as vLLM does.
- Faults (one per request): `error_500` (a JSON error with status
  `error_status`), `hang_before_headers` (no answer until the client goes away),
  `drop_mid_stream` (`drop_after` events, then the connection closes without
  `[DONE]`; non-stream: half the body), `stall_mid_stream` (`drop_after` events,
  then silence), `error_mid_stream` (`drop_after` events, then a
  `data: {"error": ...}` event and `[DONE]`, as vLLM does; non-stream: a 500),
  `garbage` (200 with non-JSON `data:` lines, or a truncated JSON body), `html`
  (200 `text/html`). `slow_first_token` combines with any of them: headers at
  once, the first event after `first_token_delay_ms`. `linger_after_done` (streams)
  keeps the connection open after `[DONE]` until the client goes away. A refused connection is not
  a mode: use `refusing_url()` (a bound port that never listens) or a stopped server.

`FakeVLLM.recorder` keeps the last requests (case-insensitive headers, raw and
parsed body, status) and how each ended: `completed`, `disconnected` (with
`disconnected_at`, in `time.monotonic()` seconds), `dropped` or `cancelled`
(server stopped); plus counters of open, completed and disconnected streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

from inference.testing.fake_vllm_handlers import DEFAULT_MODELS, FakeApp
from inference.testing.fake_vllm_plan import (
    FakeSettings,
    PlanError,
    parse_modes,
    settings_override,
)

HOST = "127.0.0.1"
DEFAULT_PORT = 8101


class FakeVLLM(FakeApp):
    """An in-process fake vLLM server; options are the per-request `fake` fields."""

    def __init__(
        self,
        *,
        models: tuple[str, ...] = DEFAULT_MODELS,
        history: int = 100,
        **options: Any,
    ) -> None:
        settings = settings_override(FakeSettings(), options, None)
        super().__init__(models=models, settings=settings, history=history)
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def start(self, host: str = HOST, port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); return the base URL with /v1."""
        runner = web.AppRunner(
            self.make_app(),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, host, port, backlog=4096)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}/v1"
        return self.base_url

    async def stop(self) -> None:
        """End open requests (recorded as `cancelled`) and stop listening."""
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVLLM:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


@contextlib.contextmanager
def run_in_thread(
    host: str = HOST, port: int = 0, **options: Any
) -> Iterator[FakeVLLM]:
    """Run a FakeVLLM on its own event loop in a daemon thread (for sync tests)."""
    server = FakeVLLM(**options)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-vllm", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(host, port), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def refusing_url(host: str = HOST) -> Iterator[str]:
    """Yield a base URL whose port is bound but never listens: connects are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield f"http://{host}:{sock.getsockname()[1]}/v1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server options (shared with `manage.py fakevllm`)."""
    defaults = FakeSettings()
    add = parser.add_argument
    add("--host", default=HOST, help="interface to bind (default %(default)s)")
    add("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    add("--models", nargs="+", default=list(DEFAULT_MODELS), help="served model ids")
    add("--tokens", type=int, default=defaults.tokens, help="content tokens per reply")
    add("--delay-ms", type=float, default=defaults.delay_ms, help="inter-token delay")
    add(
        "--mode",
        type=_modes,
        default=frozenset(),
        help="default modes, comma-separated",
    )
    add("--first-token-delay-ms", type=float, default=defaults.first_token_delay_ms)
    add("--reasoning-tokens", type=int, default=defaults.reasoning_tokens)
    add("--drop-after", type=int, default=defaults.drop_after)
    add("--history", type=int, default=100, help="requests kept for inspection")
    add("--no-uvloop", action="store_true", help="use asyncio's default event loop")


def _modes(value: str) -> frozenset[str]:
    try:
        return parse_modes(value)
    except PlanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def server_from_options(options: Mapping[str, Any]) -> FakeVLLM:
    """Build a FakeVLLM from parsed `add_arguments` options."""
    models = tuple(m for value in options["models"] for m in value.split(",") if m)
    return FakeVLLM(
        models=models or DEFAULT_MODELS,
        history=options["history"],
        tokens=options["tokens"],
        delay_ms=options["delay_ms"],
        mode=sorted(options["mode"]),
        first_token_delay_ms=options["first_token_delay_ms"],
        reasoning_tokens=options["reasoning_tokens"],
        drop_after=options["drop_after"],
    )


async def serve(
    server: FakeVLLM, host: str, port: int, write: Callable[[str], None]
) -> None:
    """Serve until SIGINT or SIGTERM; write the base URL once listening."""
    url = await server.start(host, port)
    write(f"fake vLLM serving {', '.join(server.models)} at {url}\n")
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await server.stop()


def run(options: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """Run the server from parsed options until interrupted."""
    server = server_from_options(options)
    loop_factory = None if options["no_uvloop"] else _uvloop_factory()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(server, options["host"], options["port"], write))


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m inference.testing.fake_vllm",
        description="Run a fake vLLM OpenAI-compatible server.",
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        run(options, _write)
    except (PlanError, OSError) as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
