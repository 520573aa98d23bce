"""The ASGI lifespan protocol: start the MCP session manager; write what is batched in
memory (and end the MCP sessions) before the process exits.

uvicorn (and gunicorn's uvicorn workers) send `lifespan.shutdown` on SIGTERM once open
requests and streams have finished; nothing batched may be lost on such a normal stop.
"""

import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async

from inference import upstream, usage
from janserver import auth, background
from janserver.http.boundary import Message, Receive, Scope, Send
from tools import endpoint as mcp_endpoint

logger = logging.getLogger("janserver.lifespan")


class LifespanApp:
    """Answer `lifespan.startup` at once; on `lifespan.shutdown`, flush and close."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send(await _step("startup", _startup))
            elif message["type"] == "lifespan.shutdown":
                await send(await _step("shutdown", _shutdown))
                return


async def _step(phase: str, run: Callable[[], Awaitable[None]]) -> Message:
    try:
        await run()
    except Exception as exc:
        logger.exception("Lifespan %s failed", phase)
        return {"type": f"lifespan.{phase}.failed", "message": str(exc)}
    return {"type": f"lifespan.{phase}.complete"}


async def _startup() -> None:
    usage.ensure_flusher()
    await mcp_endpoint.astart()


async def _shutdown() -> None:
    """Run every step even if one fails; then report what failed."""
    failed: list[str] = []
    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        # First: ending the MCP sessions abandons their tool calls, whose records
        # are written by background tasks.
        ("MCP sessions", mcp_endpoint.astop),
        ("background tasks", _drain_background),
        ("usage flusher", usage.astop),
        ("usage records", usage.aflush),
        ("API key last_used_at", sync_to_async(auth.flush_key_usage)),
        ("upstream client", upstream.aclose),
    ]
    for name, step in steps:
        try:
            await step()
        except Exception:
            logger.exception("Shutdown step failed: %s", name)
            failed.append(name)
    unwritten = usage.log_pending()
    if unwritten:
        failed.append(f"{unwritten} usage records not written (logged instead)")
    if failed:
        raise RuntimeError("Shutdown incomplete: " + "; ".join(failed))


# Background work (saving a disconnected stream's turn, background responses) gets this
# long to end before the rest of the shutdown runs; what remains is cancelled.
BACKGROUND_DRAIN_SECONDS = 20.0


async def _drain_background() -> None:
    left = await background.drain(BACKGROUND_DRAIN_SECONDS)
    if left:
        raise RuntimeError(f"{left} background tasks were cancelled")
